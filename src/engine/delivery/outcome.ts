import type { DeadLetterReason } from "../dead-letters/row.ts";

export type Outcome = "processed" | "duplicate" | "skipped" | "retry" | "dead_lettered";

/** One delivery's outcome, reported to `onOutcome` (metrics, the console's charts). */
export interface OutcomeReport {
  handler: string;
  eventType: string;
  outcome: Outcome;
  attempt: number;
  /** From the event's occurredAt (outbox created_at) to the handler finishing, when known. */
  latencyMs?: number;
  reason?: DeadLetterReason;
}
