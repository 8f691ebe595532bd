import type Redis from "ioredis";
import { keys } from "./keys.ts";

export type DeadLetterReason = "max_attempts" | "schema_invalid" | "unrecoverable" | "malformed_entry";

export interface DeadLetter {
  eventId: string;
  eventType: string;
  handler: string;
  stream: string;
  entryId: string;
  reason: DeadLetterReason;
  error: string;
  attempts: number;
  failedAt: string;
  /** JSON text of the payload, as it was on the stream. */
  payload: string;
  aggregateId: string | null;
  tenantId: string | null;
  occurredAt: string;
}

/**
 * Records the entry in `<prefix>:dlq` and acks it in one MULTI: either both happen or neither,
 * so an entry is never both dead-lettered and still pending, nor acked without its record.
 */
export async function moveToDeadLetter(redis: Redis, prefix: string, group: string, dl: DeadLetter): Promise<string> {
  const fields: string[] = [];
  for (const [k, v] of Object.entries(dl)) fields.push(k, v === null ? "" : String(v));
  const results = await redis
    .multi()
    .xadd(keys.deadLetters(prefix), "*", ...fields)
    .xack(dl.stream, group, dl.entryId)
    .hincrby(keys.deadLetterCounts(prefix), dl.eventType, 1)
    .exec();
  if (!results) throw new Error("dead-letter transaction was discarded");
  const [[err, id] = []] = results;
  if (err) throw err;
  return String(id);
}
