import type Redis from "ioredis";
import type postgres from "postgres";
import type { Sql } from "../db.ts";
import type { Logger } from "../support/logger.ts";
import { removeDeadLetterCopies } from "./record.ts";
import { keys } from "../redis/keys.ts";

export type Q = postgres.Sql | postgres.TransactionSql;

export interface DlqDeps {
  sql: Sql;
  redis: Redis;
  prefix: string;
  log: Logger;
}

export type DeadLetterStatus = "open" | "retried" | "deleted";

/** A `dead_letters` row as stored. */
export interface DeadLetterRow {
  id: string;
  event_id: string | null;
  event_type: string;
  handler: string;
  stream: string;
  entry_id: string;
  reason: string;
  error: string;
  attempts: number;
  payload: string;
  aggregate_id: string | null;
  tenant_id: string | null;
  /** Timestamps in epoch milliseconds: see `columns`. */
  occurred_at: number | null;
  failed_at: number;
  status: DeadLetterStatus;
  resolved_at: number | null;
  dlq_entry_id: string | null;
}

/**
 * Every column of a `DeadLetterRow`. Timestamps come as epoch milliseconds: drizzle sets this
 * shared postgres.js client to hand timestamps through as raw text in the session's format.
 */
export const columns = (q: Q) => q`
  id, event_id, event_type, handler, stream, entry_id, reason, error, attempts, payload, aggregate_id, tenant_id,
  status, dlq_entry_id,
  (extract(epoch from occurred_at) * 1000)::float8 as occurred_at,
  (extract(epoch from failed_at) * 1000)::float8 as failed_at,
  (extract(epoch from resolved_at) * 1000)::float8 as resolved_at`;

export interface DeadLetterFilter {
  eventType?: string;
  handler?: string;
}

/** The `and ...` conditions of a filter, for a query run on `q`. */
export function filterSql(q: Q, { eventType, handler }: DeadLetterFilter) {
  return q`${eventType === undefined ? q`` : q`and event_type = ${eventType}`} ${handler === undefined ? q`` : q`and handler = ${handler}`}`;
}

/** Locks the rows with these ids (any status) until the transaction ends. */
export async function lockDeadLetters(tx: Q, ids: string[]): Promise<DeadLetterRow[]> {
  return tx<DeadLetterRow[]>`select ${columns(tx)} from dead_letters where id = any(${ids}::uuid[]) for update`;
}

export async function markResolved(tx: Q, ids: string[], status: Exclude<DeadLetterStatus, "open">): Promise<void> {
  await tx`update dead_letters set status = ${status}, resolved_at = now() where id = any(${ids}::uuid[])`;
}

/**
 * Removes the rows' copies from `<prefix>:dlq` (and their `dlq-counts`). A row without a
 * `dlq_entry_id` (its process stopped between the MULTI and storing the id) is looked up by the
 * `id` field of the copies; a copy that is gone already (Redis lost its data) is skipped.
 */
export async function removeRedisCopies(redis: Redis, prefix: string, rows: DeadLetterRow[]): Promise<number> {
  const unknown = rows.filter((r) => !r.dlq_entry_id).map((r) => r.id);
  const found = unknown.length ? await findDeadLetterCopies(redis, prefix, new Set(unknown)) : new Map<string, string>();
  const copies = rows.flatMap((r) => {
    const dlqEntryId = r.dlq_entry_id ?? found.get(r.id);
    return dlqEntryId ? [{ dlqEntryId, eventType: r.event_type }] : [];
  });
  return removeDeadLetterCopies(redis, prefix, copies);
}

/** Pages through `<prefix>:dlq` for the copies whose `id` field is one of `rowIds`: row id -> entry id. */
async function findDeadLetterCopies(redis: Redis, prefix: string, rowIds: Set<string>): Promise<Map<string, string>> {
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
