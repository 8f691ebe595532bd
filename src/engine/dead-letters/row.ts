import type { Q } from "../db.ts";

export type DeadLetterReason =
  | "max_attempts" | "schema_invalid" | "unrecoverable" | "malformed_entry"
  /** Set aside by the relay (handler `relay`): no subscription knows the row's event type. */
  | "unknown_event_type"
  /** Set aside by the relay: Redis refuses the row itself (a reserved type, a key of the wrong type). */
  | "unpublishable";

/**
 * `open` until an operator retries it (`retried`) or discards it (`discarded`), or a later run
 * of the same event by the same handler succeeds (`resolved`: another copy of the event got through).
 */
export type DeadLetterStatus = "open" | "retried" | "discarded" | "resolved";

/** The `handler` of the dead letters the relay writes; no subscription may use this name. */
export const RELAY_HANDLER = "relay";

/**
 * A dead letter: one `dead_letters` row, the durable record (the Redis `<prefix>:dlq` stream
 * holds its copy). The one shape in which every part of the engine writes and reads it.
 */
export interface DeadLetterRow {
  id: string;
  /** Null only for a stream entry that carried no valid event id (reason `malformed_entry`). */
  event_id: string | null;
  event_type: string;
  handler: string;
  stream: string;
  entry_id: string;
  reason: DeadLetterReason;
  error: string;
  attempts: number;
  /** JSON text of the payload, as it was on the stream. */
  payload: string;
  aggregate_id: string | null;
  tenant_id: string | null;
  /** Timestamps in epoch milliseconds: see `columns`. */
  occurred_at: number | null;
  failed_at: number;
  status: DeadLetterStatus;
  resolved_at: number | null;
  /** The entry id of its copy in `<prefix>:dlq`, null until the copy exists. */
  dlq_entry_id: string | null;
}

/**
 * Every column of a DeadLetterRow, for any select or returning. Timestamps come as epoch
 * milliseconds: drizzle sets this shared postgres.js client to hand timestamps through as raw text.
 */
export const columns = (q: Q) => q`
  id, event_id, event_type, handler, stream, entry_id, reason, error, attempts, payload, aggregate_id, tenant_id,
  status, dlq_entry_id,
  (extract(epoch from occurred_at) * 1000)::float8 as occurred_at,
  (extract(epoch from failed_at) * 1000)::float8 as failed_at,
  (extract(epoch from resolved_at) * 1000)::float8 as resolved_at`;

/** A new, open dead letter failing now, with what `fields` says. */
export function newDeadLetter(fields: Omit<DeadLetterRow, "id" | "failed_at" | "status" | "resolved_at" | "dlq_entry_id">): DeadLetterRow {
  return { ...fields, id: crypto.randomUUID(), failed_at: Date.now(), status: "open", resolved_at: null, dlq_entry_id: null };
}

/**
 * Inserts dead letters; one that repeats the (handler, stream, entry id) of a recorded one, or
 * the (handler, event) of an open one, is skipped. Returns the rows inserted, as stored. The one insert of `dead_letters`.
 */
export async function insertDeadLetters(q: Q, rows: DeadLetterRow[]): Promise<DeadLetterRow[]> {
  if (rows.length === 0) return [];
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  const values = rows.map((r) => ({
    id: r.id, event_id: r.event_id, event_type: pgText(r.event_type), handler: r.handler, stream: pgText(r.stream), entry_id: r.entry_id,
    reason: r.reason, error: pgText(r.error), attempts: r.attempts, payload: pgText(r.payload),
    aggregate_id: r.aggregate_id === null ? null : pgText(r.aggregate_id), tenant_id: r.tenant_id === null ? null : pgText(r.tenant_id),
    // ISO text: drizzle sets this shared client to pass timestamp parameters through as text.
    occurred_at: iso(r.occurred_at), failed_at: iso(r.failed_at), status: r.status, resolved_at: iso(r.resolved_at), dlq_entry_id: r.dlq_entry_id,
  }));
  return q<DeadLetterRow[]>`
    insert into dead_letters ${q(values)}
    on conflict do nothing
    returning ${columns(q)}`;
}

/** The open dead letter of one event for one handler, or undefined. */
export async function findOpenDeadLetterOfEvent(q: Q, handler: string, eventId: string): Promise<DeadLetterRow | undefined> {
  const [row] = await q<DeadLetterRow[]>`
    select ${columns(q)} from dead_letters where handler = ${handler} and event_id = ${eventId} and status = 'open'`;
  return row;
}

/** The recorded dead letter of one stream entry for one handler, or undefined. */
export async function findDeadLetterOfEntry(q: Q, handler: string, stream: string, entryId: string): Promise<DeadLetterRow | undefined> {
  const [row] = await q<DeadLetterRow[]>`
    select ${columns(q)} from dead_letters where handler = ${handler} and stream = ${pgText(stream)} and entry_id = ${entryId}`;
  return row;
}

/**
 * Stores the Redis copy's entry id on an open row whose copy is `previous` (null: none yet);
 * false when the row is no longer open or names another copy (a recovery restored one
 * meanwhile): the caller's copy must then go, so a row never has two.
 */
export async function setCopyEntryId(q: Q, id: string, previous: string | null, dlqEntryId: string): Promise<boolean> {
  const updated = await q`
    update dead_letters set dlq_entry_id = ${dlqEntryId}
    where id = ${id} and status = 'open' and dlq_entry_id is not distinct from ${previous}::text returning 1`;
  return updated.length > 0;
}

/** PostgreSQL text cannot hold NUL; a hand-written entry must still be recordable. */
function pgText(s: string): string {
  return s.includes("\u0000") ? s.replaceAll("\u0000", "\uFFFD") : s;
}
