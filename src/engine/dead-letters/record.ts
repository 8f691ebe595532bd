import type Redis from "ioredis";
import type postgres from "postgres";
import type { Sql } from "../db.ts";
import { keys } from "../redis/keys.ts";

export type DeadLetterReason =
  | "max_attempts" | "schema_invalid" | "unrecoverable" | "malformed_entry"
  /** Set aside by the relay (handler `relay`): no subscription knows the row's event type. */
  | "unknown_event_type"
  /** Set aside by the relay: Redis refuses the row itself (a reserved type, a key of the wrong type). */
  | "unpublishable";

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

export interface DeadLetterDeps {
  sql: Sql;
  redis: Redis;
  prefix: string;
}

export interface MovedDeadLetter {
  /** The `dead_letters` row id, also the `id` field of the Redis copy. */
  id: string;
  /** The Redis copy's entry id in `<prefix>:dlq`; null when the row was already resolved and only the ack was left to do. */
  dlqEntryId: string | null;
}

type Q = postgres.Sql | postgres.TransactionSql;

interface RecordedRow {
  id: string;
  status: string;
  dlq_entry_id: string | null;
  reason: DeadLetterReason;
  error: string;
  attempts: number;
  /** Epoch milliseconds (drizzle makes this client return timestamps as raw text). */
  failed_at: number;
}

/**
 * Dead-letters one entry: the `dead_letters` row first, then the Redis copy and the ack in one
 * MULTI, then the copy's entry id on the row. Safe to call twice for one entry: a process that
 * died before the MULTI left the entry pending, and its redelivery finds the same row (unique on
 * handler, stream, entry id) and finishes the job; nothing is recorded twice.
 */
export async function moveToDeadLetter(deps: DeadLetterDeps, group: string, dl: DeadLetter): Promise<MovedDeadLetter> {
  const { sql, redis, prefix } = deps;
  const row = await recordDeadLetter(sql, dl);
  if (row.status !== "open" || row.dlq_entry_id) {
    // An operator already retried or deleted it (or its copy exists): only the ack was missing.
    await redis.xack(dl.stream, group, dl.entryId);
    return { id: row.id, dlqEntryId: row.dlq_entry_id };
  }
  // A redelivery keeps what the first attempt recorded, so both copies say the same thing.
  const stored = { ...dl, reason: row.reason, error: row.error, attempts: row.attempts, failedAt: new Date(row.failed_at).toISOString() };
  const results = await redis
    .multi()
    .xadd(keys.deadLetters(prefix), "*", ...deadLetterFields(row.id, stored))
    .xack(dl.stream, group, dl.entryId)
    .hincrby(keys.deadLetterCounts(prefix), dl.eventType, 1)
    .exec();
  if (!results) throw new Error("dead-letter transaction was discarded");
  const [[err, added] = []] = results;
  if (err) throw err;
  const dlqEntryId = String(added);
  if (!(await setDeadLetterEntryId(sql, row.id, dlqEntryId))) {
    // Resolved between the insert and now (its copy must not outlive it), or a recovery from Redis
    // data loss restored a copy meanwhile (a row has one copy, not two).
    await removeDeadLetterCopies(redis, prefix, [{ dlqEntryId, eventType: dl.eventType }]);
  }
  return { id: row.id, dlqEntryId };
}

/** The Redis copy of a dead letter as a flat field list: `id` (the row's id) and every field of `dl`. */
export function deadLetterFields(id: string, dl: DeadLetter): string[] {
  const fields: string[] = ["id", id];
  for (const [k, v] of Object.entries(dl)) fields.push(k, v === null ? "" : String(v));
  return fields;
}

/**
 * XADDs Redis copies to `<prefix>:dlq` and raises `dlq-counts` for each, in one MULTI. Returns
 * the copies' entry ids in order; throws (adding nothing) when Redis refuses the transaction.
 */
export async function addDeadLetterCopies(redis: Redis, prefix: string, copies: { id: string; dl: DeadLetter }[]): Promise<string[]> {
  if (copies.length === 0) return [];
  const multi = redis.multi();
  for (const { id, dl } of copies) multi.xadd(keys.deadLetters(prefix), "*", ...deadLetterFields(id, dl));
  for (const { dl } of copies) multi.hincrby(keys.deadLetterCounts(prefix), dl.eventType, 1);
  const results = await multi.exec();
  if (!results) throw new Error("dead-letter copy transaction was discarded");
  return copies.map((_, i) => {
    const [err, added] = results[i] ?? [new Error("no reply"), null];
    if (err) throw err;
    return String(added);
  });
}

/** Inserts the dead letter's row, or returns the row an earlier delivery of the same entry recorded. */
export async function recordDeadLetter(sql: Q, dl: DeadLetter): Promise<RecordedRow> {
  const occurred = Date.parse(dl.occurredAt);
  const columns = {
    event_id: dl.eventId || null,
    event_type: pgText(dl.eventType),
    handler: dl.handler,
    stream: pgText(dl.stream),
    entry_id: dl.entryId,
    reason: dl.reason,
    error: pgText(dl.error),
    attempts: dl.attempts,
    payload: pgText(dl.payload),
    aggregate_id: dl.aggregateId === null ? null : pgText(dl.aggregateId),
    tenant_id: dl.tenantId === null ? null : pgText(dl.tenantId),
    // A hand-written entry's occurredAt may be anything; it must not make the insert fail.
    // ISO text: drizzle sets this shared client to pass timestamp parameters through as text.
    occurred_at: Number.isFinite(occurred) ? new Date(occurred).toISOString() : null,
    failed_at: new Date(dl.failedAt).toISOString(),
  };
  const [inserted] = await sql<RecordedRow[]>`
    insert into dead_letters ${sql(columns)}
    on conflict (handler, stream, entry_id) do nothing
    returning ${recordedColumns(sql)}`;
  if (inserted) return inserted;
  const [existing] = await sql<RecordedRow[]>`
    select ${recordedColumns(sql)} from dead_letters
    where handler = ${dl.handler} and stream = ${columns.stream} and entry_id = ${dl.entryId}`;
  if (!existing) throw new Error(`dead letter for entry ${dl.entryId} conflicted but was not found`);
  return existing;
}

const recordedColumns = (q: Q) => q`id, status, dlq_entry_id, reason, error, attempts, (extract(epoch from failed_at) * 1000)::float8 as failed_at`;

/**
 * Stores the Redis copy's entry id on an open row that has none yet; false when the row is no
 * longer open or already names a copy (the recovery restored one meanwhile): the caller's copy
 * must then go, so a row never has two.
 */
export async function setDeadLetterEntryId(sql: Q, id: string, dlqEntryId: string): Promise<boolean> {
  return replaceDeadLetterEntryId(sql, id, null, dlqEntryId);
}

/** Like setDeadLetterEntryId, for a row whose copy `previous` (or none, null) is to be replaced. */
export async function replaceDeadLetterEntryId(sql: Q, id: string, previous: string | null, dlqEntryId: string): Promise<boolean> {
  const updated = await sql`
    update dead_letters set dlq_entry_id = ${dlqEntryId}
    where id = ${id} and status = 'open' and dlq_entry_id is not distinct from ${previous}::text returning 1`;
  return updated.length > 0;
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

/** Deletes Redis copies from `<prefix>:dlq` and lowers `dlq-counts` for each one that was there, atomically. */
export async function removeDeadLetterCopies(redis: Redis, prefix: string, copies: { dlqEntryId: string; eventType: string }[]): Promise<number> {
  if (copies.length === 0) return 0;
  const args = copies.flatMap((c) => [c.dlqEntryId, c.eventType]);
  return Number(await redis.eval(REMOVE_COPIES, 2, keys.deadLetters(prefix), keys.deadLetterCounts(prefix), ...args));
}

/** PostgreSQL text cannot hold NUL; a hand-written entry must still be recordable. */
function pgText(s: string): string {
  return s.includes("\u0000") ? s.replaceAll("\u0000", "\uFFFD") : s;
}
