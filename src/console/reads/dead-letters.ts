import { encodeCursor, type Cursor, type DeadLetterStatus, type Sql } from "../../engine/index.ts";

/** Where `q` is looked for: one column, the payload's text, or one field of the payload (`payload.customer.email`). */
export type SearchField = "any" | "eventId" | "aggregateId" | "tenantId" | "error" | "payload" | `payload.${string}`;

export interface DeadLetterSearch {
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

export interface FoundDeadLetter {
  id: string;
  eventId: string | null;
  eventType: string;
  handler: string;
  reason: string;
  error: string;
  attempts: number;
  failedAt: string;
  payload: unknown;
  aggregateId: string | null;
  tenantId: string | null;
  status: DeadLetterStatus;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A payload path: up to 8 names or array indexes after `payload.`. */
export const PAYLOAD_PATH = /^payload(\.[A-Za-z0-9_-]{1,64}){1,8}$/;

/**
 * Dead letters matching `search`, newest first, paged on (failed_at, id) like the plain list, with
 * the same cursors. Runs on the durable `dead_letters` table: text searches scan it, which a
 * dead-letter table (small unless something is badly wrong) affords.
 */
export async function searchDeadLetters(sql: Sql, search: DeadLetterSearch & { limit: number; cursor?: Cursor }): Promise<{ items: FoundDeadLetter[]; nextCursor: string | null }> {
  const { limit, cursor } = search;
  const rows = await sql<(Row & { failed_key: string })[]>`
    select ${selectList(sql)}, to_char(failed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as failed_key
    from dead_letters
    where ${whereSql(sql, search)}
      ${cursor ? sql`and (failed_at, id) < (${cursor.failedAt}::timestamptz, ${cursor.id}::uuid)` : sql``}
    order by failed_at desc, id desc
    limit ${limit + 1}`;
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    items: page.map(toFound),
    nextCursor: rows.length > limit && last ? encodeCursor({ failedAt: last.failed_key, id: last.id }) : null,
  };
}

/**
 * How many open dead letters match: what a bulk delete would touch, or with `retryable` a bulk
 * retry (only letters that carry an event id can be delivered again).
 */
export async function countOpenMatching(sql: Sql, search: DeadLetterSearch, { retryable = false } = {}): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from dead_letters
    where ${whereSql(sql, { ...search, status: "open" })} ${retryable ? sql`and event_id is not null` : sql``}`;
  return row?.n ?? 0;
}

/** Ids of the open dead letters matching, oldest first, at most `limit` (with `retryable`: those with an event id). */
export async function listOpenMatchingIds(sql: Sql, search: DeadLetterSearch, limit: number, { retryable = false } = {}): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    select id from dead_letters
    where ${whereSql(sql, { ...search, status: "open" })} ${retryable ? sql`and event_id is not null` : sql``}
    order by failed_at, id limit ${limit}`;
  return rows.map((r) => r.id);
}

/** The values the list can be filtered by, for the console's filter menus. */
export async function readDeadLetterFacets(sql: Sql): Promise<{ eventTypes: string[]; handlers: string[]; reasons: string[] }> {
  const rows = await sql<{ kind: string; value: string }[]>`
    select 'eventType' as kind, event_type as value from dead_letters group by event_type
    union all select 'handler', handler from dead_letters group by handler
    union all select 'reason', reason from dead_letters group by reason
    order by 1, 2`;
  const of = (kind: string) => rows.filter((r) => r.kind === kind).map((r) => r.value);
  return { eventTypes: of("eventType"), handlers: of("handler"), reasons: of("reason") };
}


function whereSql(sql: Sql, { eventType, handler, reason, status = "open", q, field = "any", ids }: DeadLetterSearch) {
  const eq = (column: string, value: string | undefined) => (value === undefined ? sql`` : sql`and ${sql(column)} = ${value}`);
  return sql`true
    ${status === "any" ? sql`` : sql`and status = ${status}`}
    ${eq("event_type", eventType)} ${eq("handler", handler)} ${eq("reason", reason)}
    ${ids === undefined ? sql`` : sql`and id = any(${ids}::uuid[])`}
    ${q === undefined ? sql`` : sql`and (${matchSql(sql, q, field)})`}`;
}

function matchSql(sql: Sql, q: string, field: SearchField) {
  // ILIKE with the user's % and _ taken literally.
  const contains = `%${q.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
  switch (field) {
    case "eventId":
      return UUID.test(q) ? sql`event_id = ${q}::uuid` : sql`false`;
    case "aggregateId":
      return sql`aggregate_id = ${q}`;
    case "tenantId":
      return sql`tenant_id = ${q}`;
    case "error":
      return sql`error ilike ${contains}`;
    case "payload":
      return sql`payload ilike ${contains}`;
    case "any":
      return sql`${UUID.test(q) ? sql`event_id = ${q}::uuid or` : sql``} aggregate_id = ${q} or tenant_id = ${q} or error ilike ${contains} or payload ilike ${contains}`;
    default: {
      // A malformed entry's payload may not be JSON, and a failed cast would fail the whole
      // search: CASE keeps the cast away from those rows (every other payload was parsed as JSON
      // before it was dead-lettered).
      const path = field.split(".").slice(1);
      return sql`(case when reason <> 'malformed_entry' then payload::jsonb #>> ${path}::text[] end) = ${q}`;
    }
  }
}

interface Row {
  id: string;
  event_id: string | null;
  event_type: string;
  handler: string;
  reason: string;
  error: string;
  attempts: number;
  payload: string;
  aggregate_id: string | null;
  tenant_id: string | null;
  status: DeadLetterStatus;
  failed_ms: number;
}

const selectList = (sql: Sql) => sql`
  id, event_id, event_type, handler, reason, error, attempts, payload, aggregate_id, tenant_id, status,
  (extract(epoch from failed_at) * 1000)::float8 as failed_ms`;

function toFound(r: Row): FoundDeadLetter {
  let payload: unknown = r.payload;
  try {
    payload = JSON.parse(r.payload);
  } catch {}
  return {
    id: r.id, eventId: r.event_id, eventType: r.event_type, handler: r.handler, reason: r.reason, error: r.error,
    attempts: r.attempts, failedAt: new Date(r.failed_ms).toISOString(), payload, aggregateId: r.aggregate_id,
    tenantId: r.tenant_id, status: r.status,
  };
}
