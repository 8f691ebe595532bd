import { z } from "zod";
import type { Sql } from "../db.ts";
import { columns, type DeadLetterRow, type DeadLetterStatus } from "../dead-letters/row.ts";
import { filterSql, type DeadLetterFilter } from "./letters.ts";

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
}

export interface DeadLetterDetail extends DeadLetterItem {
  stream: string;
  entryId: string;
  aggregateId: string | null;
  tenantId: string | null;
  occurredAt: string | null;
  status: DeadLetterStatus;
  resolvedAt: string | null;
}

/** Where a page ended: the last item's failed_at (microseconds, UTC) and id. */
export interface Cursor {
  failedAt: string;
  id: string;
}

export interface ListOptions extends DeadLetterFilter {
  /** Defaults to open. */
  status?: DeadLetterStatus;
  limit: number;
  cursor?: Cursor;
}

/**
 * Dead letters of one status (open unless asked), newest first, one page at a time. Keyset pagination on (failed_at, id): a
 * page never repeats an item of an earlier one, even while new dead letters arrive.
 */
export async function listDeadLetters(sql: Sql, { limit, cursor, status = "open", ...filter }: ListOptions): Promise<{ items: DeadLetterItem[]; nextCursor: string | null }> {
  const rows = await sql<(DeadLetterRow & { failed_key: string })[]>`
    select ${columns(sql)}, to_char(failed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as failed_key
    from dead_letters
    where status = ${status} ${filterSql(sql, filter)}
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

function toItem(r: DeadLetterRow): DeadLetterItem {
  return {
    id: r.id, eventId: r.event_id, eventType: r.event_type, handler: r.handler, reason: r.reason, error: r.error,
    attempts: r.attempts, failedAt: iso(r.failed_at), payload: parsePayload(r.payload),
  };
}

function toDetail(r: DeadLetterRow): DeadLetterDetail {
  return {
    ...toItem(r),
    stream: r.stream, entryId: r.entry_id, aggregateId: r.aggregate_id, tenantId: r.tenant_id,
    occurredAt: r.occurred_at === null ? null : iso(r.occurred_at), status: r.status,
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
