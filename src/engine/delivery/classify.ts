import type { DeadLetterReason } from "../dead-letters/row.ts";
import { decodeEntry, type StreamEvent } from "../redis/entry.ts";
import { CRASH_ALLOWANCE } from "./failures.ts";
import type { ResolvedSubscription } from "./subscribe.ts";

/** One delivery of a stream entry to this consumer: a first read, or a redelivery. */
export interface Delivery {
  id: string;
  fields: string[];
  /** 1 plus the handler's failures so far (an attempt is a failure, not a delivery). */
  attempt: number;
  /** Redis' delivery count, crashes included: past maxAttempts + CRASH_ALLOWANCE it is dead-lettered. */
  deliveries: number;
}

/** What the pipeline does with a delivery before any transaction: run it, skip it, or dead-letter it. */
export type Classified =
  | { kind: "run"; delivery: Delivery; event: StreamEvent }
  /** A re-drive meant for another handler: acked without running. */
  | { kind: "skip"; delivery: Delivery; event: StreamEvent }
  | { kind: "dead"; delivery: Delivery; event: StreamEvent | null; reason: DeadLetterReason; error: string };

/** Decides from the entry alone; no I/O. A `run` carries the payload as the handler's schema parsed it. */
export function classify(sub: ResolvedSubscription, delivery: Delivery): Classified {
  const decoded = decodeEntry(delivery.fields);
  if ("error" in decoded) return { kind: "dead", delivery, event: null, reason: "malformed_entry", error: decoded.error };
  const event = decoded.event;
  if (event.target && event.target !== sub.handler) return { kind: "skip", delivery, event };
  const { maxAttempts } = sub.options;
  if (delivery.attempt > maxAttempts) {
    const error = `no attempt left: attempt ${delivery.attempt} of ${maxAttempts} (the last one's process stopped before recording it)`;
    return { kind: "dead", delivery, event, reason: "max_attempts", error };
  }
  if (delivery.deliveries > maxAttempts + CRASH_ALLOWANCE) {
    const error = `delivered ${delivery.deliveries} times and never finished: each run's process stopped (does the handler crash it?)`;
    return { kind: "dead", delivery, event, reason: "max_attempts", error };
  }
  const parsed = sub.schema.safeParse(event.payload);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join(".") || "(payload)"}: ${i.message}`).join("; ");
    return { kind: "dead", delivery, event, reason: "schema_invalid", error: `payload does not match the ${event.type} schema: ${detail}` };
  }
  return { kind: "run", delivery, event: { ...event, payload: parsed.data } };
}
