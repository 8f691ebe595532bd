import type Redis from "ioredis";
import { keys } from "../redis/keys.ts";
import type { DeadLetterRow } from "./row.ts";

/**
 * The Redis copy of a dead letter as a flat field list: `id` (the row's id) and what the row
 * records, timestamps as ISO 8601 (an unknown occurredAt as "").
 */
export function copyFields(r: DeadLetterRow): string[] {
  return [
    "id", r.id,
    "eventId", r.event_id ?? "",
    "eventType", r.event_type,
    "handler", r.handler,
    "stream", r.stream,
    "entryId", r.entry_id,
    "reason", r.reason,
    "error", r.error,
    "attempts", String(r.attempts),
    "failedAt", new Date(r.failed_at).toISOString(),
    "payload", r.payload,
    "aggregateId", r.aggregate_id ?? "",
    "tenantId", r.tenant_id ?? "",
    "occurredAt", r.occurred_at === null ? "" : new Date(r.occurred_at).toISOString(),
  ];
}

/**
 * XADDs the rows' copies to `<prefix>:dlq` and raises `dlq-counts` for each, in one MULTI.
 * Returns the copies' entry ids in order; throws (adding nothing) when Redis refuses the transaction.
 */
export async function addCopies(redis: Redis, prefix: string, rows: DeadLetterRow[]): Promise<string[]> {
  if (rows.length === 0) return [];
  const multi = redis.multi();
  for (const r of rows) multi.xadd(keys.deadLetters(prefix), "*", ...copyFields(r));
  for (const r of rows) multi.hincrby(keys.deadLetterCounts(prefix), r.event_type, 1);
  const results = await multi.exec();
  if (!results) throw new Error("dead-letter copy transaction was discarded");
  return rows.map((_, i) => {
    const [err, added] = results[i] ?? [new Error("no reply"), null];
    if (err) throw err;
    return String(added);
  });
}

// XDEL and the count go together; a copy already gone (Redis lost its data) leaves the count alone.
const REMOVE_COPIES = `
local removed = 0
for i = 1, #ARGV, 2 do
  if redis.call('XDEL', KEYS[1], ARGV[i]) == 1 then
    redis.call('HINCRBY', KEYS[2], ARGV[i + 1], -1)
    removed = removed + 1
  end
end
return removed`;

/** Deletes copies from `<prefix>:dlq` and lowers `dlq-counts` for each one that was there, atomically. */
export async function removeCopyEntries(redis: Redis, prefix: string, copies: { dlqEntryId: string; eventType: string }[]): Promise<number> {
  if (copies.length === 0) return 0;
  const args = copies.flatMap((c) => [c.dlqEntryId, c.eventType]);
  return Number(await redis.eval(REMOVE_COPIES, 2, keys.deadLetters(prefix), keys.deadLetterCounts(prefix), ...args));
}

/**
 * Removes the rows' copies. A row without a `dlq_entry_id` (its process stopped between the
 * MULTI and storing the id) is looked up by the `id` field of the copies; a copy that is gone
 * already (Redis lost its data) is skipped.
 */
export async function removeCopies(redis: Redis, prefix: string, rows: DeadLetterRow[]): Promise<number> {
  const unknown = rows.filter((r) => !r.dlq_entry_id).map((r) => r.id);
  const found = unknown.length ? await findCopies(redis, prefix, new Set(unknown)) : new Map<string, string>();
  const copies = rows.flatMap((r) => {
    const dlqEntryId = r.dlq_entry_id ?? found.get(r.id);
    return dlqEntryId ? [{ dlqEntryId, eventType: r.event_type }] : [];
  });
  return removeCopyEntries(redis, prefix, copies);
}

/** Pages through `<prefix>:dlq` for the copies whose `id` field is one of `rowIds`: row id -> entry id. */
export async function findCopies(redis: Redis, prefix: string, rowIds: Set<string>): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  let start = "-";
  for (;;) {
    const page = await redis.xrange(keys.deadLetters(prefix), start, "+", "COUNT", 500);
    for (const [entryId, fields] of page) {
      for (let i = 0; i + 1 < fields.length; i += 2) {
        if (fields[i] === "id" && rowIds.has(fields[i + 1]!)) found.set(fields[i + 1]!, entryId);
      }
    }
    if (page.length < 500 || found.size === rowIds.size) return found;
    start = `(${page[page.length - 1]![0]}`;
  }
}
