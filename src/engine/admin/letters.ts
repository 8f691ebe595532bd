import type Redis from "ioredis";
import type { Q, Sql } from "../db.ts";
import { columns, type DeadLetterRow, type DeadLetterStatus } from "../dead-letters/row.ts";
import type { Logger } from "../support/logger.ts";
import type { Layout } from "../partitions/layout.ts";

/** What the operators' API works on: the engine's stores under its prefix. */
export interface AdminDeps {
  sql: Sql;
  redis: Redis;
  prefix: string;
  log: Logger;
  /** Where re-driven events of a released parked key go (their key's partition); without it, to the partition of their dead letter. */
  layout?: Layout;
}

/** Where `q` is looked for: one column, the payload's text, or one field of the payload (`payload.customer.email`). */
export type SearchField = "any" | "eventId" | "aggregateId" | "tenantId" | "error" | "payload" | `payload.${string}`;

/** A payload path: up to 8 names or array indexes after `payload.`. */
export const PAYLOAD_PATH = /^payload(\.[A-Za-z0-9_-]{1,64}){1,8}$/;

/** Which dead letters: filters, and a text search over the durable record. Every part is optional. */
export interface DeadLetterQuery {
  eventType?: string;
  handler?: string;
  reason?: string;
  /** Defaults to open; `any` is every status. */
  status?: DeadLetterStatus | "any";
  q?: string;
  /** Defaults to `any`: event id, aggregate id, tenant, error text or payload text. */
  field?: SearchField;
  /** Only these dead letters (still filtered by the rest). */
  ids?: string[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The conditions of a query (`true and ...`), for a statement on `dead_letters` run on `q`. */
export function querySql(q: Q, { eventType, handler, reason, status = "open", q: text, field = "any", ids }: DeadLetterQuery) {
  const eq = (column: string, value: string | undefined) => (value === undefined ? q`` : q`and ${q(column)} = ${value}`);
  return q`true
    ${status === "any" ? q`` : q`and status = ${status}`}
    ${eq("event_type", eventType)} ${eq("handler", handler)} ${eq("reason", reason)}
    ${ids === undefined ? q`` : q`and id = any(${ids}::uuid[])`}
    ${text === undefined ? q`` : q`and (${matchSql(q, text, field)})`}`;
}

function matchSql(q: Q, text: string, field: SearchField) {
  // ILIKE with the user's % and _ taken literally.
  const contains = `%${text.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
  switch (field) {
    case "eventId":
      return UUID.test(text) ? q`event_id = ${text}::uuid` : q`false`;
    case "aggregateId":
      return q`aggregate_id = ${text}`;
    case "tenantId":
      return q`tenant_id = ${text}`;
    case "error":
      return q`error ilike ${contains}`;
    case "payload":
      return q`payload ilike ${contains}`;
    case "any":
      return q`${UUID.test(text) ? q`event_id = ${text}::uuid or` : q``} aggregate_id = ${text} or tenant_id = ${text} or error ilike ${contains} or payload ilike ${contains}`;
    default: {
      // A malformed entry's payload may not be JSON, and a failed cast would fail the whole
      // search: CASE keeps the cast away from those rows (every other payload was parsed as JSON
      // before it was dead-lettered).
      const path = field.split(".").slice(1);
      return q`(case when reason <> 'malformed_entry' then payload::jsonb #>> ${path}::text[] end) = ${text}`;
    }
  }
}

/** Locks the rows with these ids (any status) until the transaction ends. */
export async function lockDeadLetters(tx: Q, ids: string[]): Promise<DeadLetterRow[]> {
  return tx<DeadLetterRow[]>`select ${columns(tx)} from dead_letters where id = any(${ids}::uuid[]) for update`;
}

export async function markResolved(tx: Q, ids: string[], status: Exclude<DeadLetterStatus, "open">): Promise<void> {
  await tx`update dead_letters set status = ${status}, resolved_at = now() where id = any(${ids}::uuid[])`;
}

/** Ids of the open dead letters matching, oldest first, at most `limit` (with `retryable`: those with an event id). */
export async function matchingOpenIds(sql: Sql, query: DeadLetterQuery, limit: number, { retryable = false } = {}): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    select id from dead_letters
    where ${querySql(sql, { ...query, status: "open" })} ${retryable ? sql`and event_id is not null` : sql``}
    order by failed_at, id limit ${limit}`;
  return rows.map((r) => r.id);
}
