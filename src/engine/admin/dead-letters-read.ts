import { z } from "zod";
import type { Sql } from "../db.ts";
import { columns, type DeadLetterRow, type DeadLetterStatus } from "../dead-letters/row.ts";
import { querySql, type DeadLetterQuery } from "./letters.ts";

export interface DeadLetterItem {
  id: string;
  eventId: string | null;
  eventType: string;
  handler: string;
  reason: string;
  error: string;
  attempts: number;
  failedAt: string;
  /** The payload parsed as JSON, or the raw text when it is not JSON. */
  payload: unknown;
  aggregateId: string | null;
  tenantId: string | null;
  status: DeadLetterStatus;
}

export interface DeadLetterDetail extends DeadLetterItem {
  stream: string;
  entryId: string;
  occurredAt: string | null;
  resolvedAt: string | null;
}

/** Where a page ended: the last item's failed_at (microseconds, UTC) and id. */
export interface Cursor {
  failedAt: string;
  id: string;
}

export interface ListOptions extends DeadLetterQuery {
  limit: number;
  cursor?: Cursor;
}

/**
 * Dead letters matching a query (open ones unless it says otherwise), newest first, one page at
 * a time. Keyset pagination on (failed_at, id): a page never repeats an item of an earlier one,
 * even while new dead letters arrive. Runs on the durable `dead_letters` table, so it answers the
 * same after Redis lost its data; a text search scans it, which a dead-letter table (small unless
 * something is badly wrong) affords.
 */
export async function listDeadLetters(sql: Sql, { limit, cursor, ...query }: ListOptions): Promise<{ items: DeadLetterItem[]; nextCursor: string | null }> {
  const rows = await sql<(DeadLetterRow & { failed_key: string })[]>`
    select ${columns(sql)}, to_char(failed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as failed_key
    from dead_letters
    where ${querySql(sql, query)}
      ${cursor ? sql`and (failed_at, id) < (${cursor.failedAt}::timestamptz, ${cursor.id}::uuid)` : sql``}
    order by failed_at desc, id desc
    limit ${limit + 1}`;
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    items: page.map(toItem),
    nextCursor: rows.length > limit && last ? encodeCursor({ failedAt: last.failed_key, id: last.id }) : null,
  };
}

/** One dead letter in any status, or undefined. */
export async function getDeadLetter(sql: Sql, id: string): Promise<DeadLetterDetail | undefined> {
  const [row] = await sql<DeadLetterRow[]>`select ${columns(sql)} from dead_letters where id = ${id}`;
  return row && toDetail(row);
}

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.failedAt, cursor.id])).toString("base64url");
}

const cursorShape = z.tuple([z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/), z.uuid()]);

/** The cursor a page handed out, or null when `text` is not one. */
export function decodeCursor(text: string): Cursor | null {
  if (text.length > 200 || !/^[A-Za-z0-9_-]+$/.test(text)) return null;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    return null;
  }
  const parsed = cursorShape.safeParse(value);
  if (!parsed.success || !isRealInstant(parsed.data[0])) return null;
  return { failedAt: parsed.data[0], id: parsed.data[1] };
}

// Date.parse rolls 2024-02-30 over to March and takes year 0, both of which PostgreSQL refuses:
// the instant must read back as written, in years 1 to 9999.
function isRealInstant(text: string): boolean {
  const ms = Date.parse(text);
  return Number.isFinite(ms) && !text.startsWith("0000") && new Date(ms).toISOString().slice(0, 19) === text.slice(0, 19);
}

/**
 * How many open dead letters match: what a bulk discard would touch, or with `retryable` a bulk
 * retry (only letters that carry an event id can be delivered again).
 */
export async function countDeadLetters(sql: Sql, query: DeadLetterQuery, { retryable = false } = {}): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from dead_letters
    where ${querySql(sql, { ...query, status: "open" })} ${retryable ? sql`and event_id is not null` : sql``}`;
  return row?.n ?? 0;
}

/** The values dead letters can be filtered by (every status), for filter menus. */
export async function deadLetterFacets(sql: Sql): Promise<{ eventTypes: string[]; handlers: string[]; reasons: string[] }> {
  const rows = await sql<{ kind: string; value: string }[]>`
    select 'eventType' as kind, event_type as value from dead_letters group by event_type
    union all select 'handler', handler from dead_letters group by handler
    union all select 'reason', reason from dead_letters group by reason
    order by 1, 2`;
  const of = (kind: string) => rows.filter((r) => r.kind === kind).map((r) => r.value);
  return { eventTypes: of("eventType"), handlers: of("handler"), reasons: of("reason") };
}

function toItem(r: DeadLetterRow): DeadLetterItem {
  return {
    id: r.id, eventId: r.event_id, eventType: r.event_type, handler: r.handler, reason: r.reason, error: r.error,
    attempts: r.attempts, failedAt: iso(r.failed_at), payload: parsePayload(r.payload),
    aggregateId: r.aggregate_id, tenantId: r.tenant_id, status: r.status,
  };
}

function toDetail(r: DeadLetterRow): DeadLetterDetail {
  return {
    ...toItem(r),
    stream: r.stream, entryId: r.entry_id,
    occurredAt: r.occurred_at === null ? null : iso(r.occurred_at),
    resolvedAt: r.resolved_at === null ? null : iso(r.resolved_at),
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

function parsePayload(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
