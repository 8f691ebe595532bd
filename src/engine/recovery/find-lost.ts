import type Redis from "ioredis";
import type { Sql } from "../db.ts";
import type { OutboxRow } from "../outbox/claim.ts";
import { keys } from "../redis/keys.ts";
import { handlerStartsSql } from "./handler-starts.ts";
import { fieldsOf } from "../redis/fields.ts";
import { compareIds } from "../redis/ids.ts";

export interface Pair {
  eventType: string;
  handler: string;
}

export interface PublishedRow extends OutboxRow {
  stream_id: string;
  /** published_at as UTC text with microseconds, for the next page's start. */
  published_key: string;
  /** Handlers of the scanned pairs that have not settled the event (no processed_events record, no open dead letter). */
  unsettled: string[];
}

export interface Position {
  publishedAt: string;
  id: string;
}

/**
 * One page of outbox rows published up to `until`, in (published_at, id) order after `after`,
 * of the types in `pairs`, each with the handlers that have not settled it (among those answerable
 * for it: published after the handler started, see handler_starts). Rows the relay set
 * aside (published with no stream entry) are left out: their `relay` dead letter decides what
 * happens to them, retried or deleted. Walks the partial index on published_at, so a week of
 * outbox is read a page at a time.
 */
export async function listPublishedPage(sql: Sql, pairs: Pair[], after: Position | null, until: string, limit: number): Promise<PublishedRow[]> {
  const types = pairs.map((p) => p.eventType);
  const handlers = pairs.map((p) => p.handler);
  const rows = await sql<(Omit<PublishedRow, "unsettled"> & { unsettled: string | null })[]>`
    with subs(event_type, handler) as (select * from unnest(${types}::text[], ${handlers}::text[])),
    starts as (${handlerStartsSql(sql)})
    select o.id, o.event_type, o.aggregate_id, o.tenant_id, o.payload::text as payload, o.created_at, o.stream_id,
      to_char(o.published_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as published_key,
      (select string_agg(s.handler, ',' order by s.handler) from starts s
        where s.event_type = o.event_type and o.published_at >= s.started_at
          and not exists (select 1 from processed_events p where p.handler = s.handler and p.event_id = o.id)
          and not exists (select 1 from dead_letters d where d.event_id = o.id and d.handler = s.handler and d.status = 'open')
      ) as unsettled
    from outbox o
    where o.published_at is not null and o.published_at <= ${until}::timestamptz
      and o.stream_id is not null
      and o.event_type = any(${[...new Set(types)]}::text[])
      ${after ? sql`and (o.published_at, o.id) > (${after.publishedAt}::timestamptz, ${after.id}::uuid)` : sql``}
    order by o.published_at, o.id
    limit ${limit}`;
  // Handler names cannot contain commas (see subscribe()).
  return rows.map((r) => ({ ...r, unsettled: r.unsettled ? r.unsettled.split(",") : [] }));
}

/** Entries published for one handler (dead-letter retries, re-publishes): event id -> handler -> entry ids. */
export type RedriveEntries = Map<string, Map<string, string[]>>;

/** The entries the rows' events were published as for one handler only (see outbox/redrive.ts). */
export async function findRedriveEntries(sql: Sql, rows: PublishedRow[]): Promise<RedriveEntries> {
  const ids = rows.filter((r) => r.unsettled.length > 0).map((r) => r.id);
  const out: RedriveEntries = new Map();
  if (ids.length === 0) return out;
  const found = await sql<{ event_id: string; handler: string; entry_id: string }[]>`
    select event_id::text as event_id, handler, entry_id from redrives where event_id = any(${ids}::uuid[])`;
  for (const r of found) {
    const byHandler = out.get(r.event_id) ?? new Map<string, string[]>();
    byHandler.set(r.handler, [...(byHandler.get(r.handler) ?? []), r.entry_id]);
    out.set(r.event_id, byHandler);
  }
  return out;
}

/**
 * For each row, the unsettled handlers whose consumer group will deliver none of the event's
 * entries: neither the one the relay published (its stream_id) nor one published for that handler
 * alone (a re-drive). An entry is delivered when it still holds the event (and targets no other
 * handler) and the group either has not read that far or holds it pending. Those handlers need the
 * event published again; the others get it from Redis as it is. Pipelined: one round trip per page.
 */
export async function findLostDeliveries(redis: Redis, prefix: string, rows: PublishedRow[], redrives: RedriveEntries = new Map()): Promise<Map<string, string[]>> {
  const todo = rows.filter((r) => r.unsettled.length > 0);
  const candidates = (r: PublishedRow, h: string) => [r.stream_id, ...(redrives.get(r.id)?.get(h) ?? [])];
  const streams = [...new Set(todo.map((r) => keys.stream(prefix, r.event_type)))];
  const entryIds = [...new Set(todo.flatMap((r) => r.unsettled.flatMap((h) => candidates(r, h).map((id) => `${r.event_type}\u0000${id}`))))];
  const pipeline = redis.pipeline();
  for (const stream of streams) pipeline.xinfo("GROUPS", stream);
  for (const key of entryIds) {
    const [type, id] = key.split("\u0000") as [string, string];
    pipeline.xrange(keys.stream(prefix, type), id, id);
  }
  for (const r of todo) for (const h of r.unsettled) for (const id of candidates(r, h)) pipeline.xpending(keys.stream(prefix, r.event_type), h, id, id, 1);
  const replies = (await pipeline.exec()) ?? [];
  let i = 0;
  const next = () => replies[i++] ?? [new Error("no reply"), null];

  const lastDelivered = new Map<string, Map<string, string>>();
  for (const stream of streams) {
    const [err, groups] = next();
    const byName = new Map<string, string>();
    if (!err) for (const flat of groups as unknown[][]) byName.set(String(flat[flat.indexOf("name") + 1]), String(flat[flat.indexOf("last-delivered-id") + 1]));
    lastDelivered.set(stream, byName);
  }
  /** (type, entry id) -> the event id and target the entry holds, or null when it is gone. */
  const entries = new Map<string, { eventId: unknown; target: string | null } | null>();
  for (const key of entryIds) {
    const [err, found] = next();
    const entry = !err ? (found as [string, string[]][])[0] : undefined;
    const fields = entry ? fieldsOf(entry[1]) : null;
    entries.set(key, fields ? { eventId: fields.id, target: (fields.target as string | undefined) || null } : null);
  }
  const lost = new Map<string, string[]>();
  for (const r of todo) {
    const stream = keys.stream(prefix, r.event_type);
    const missing: string[] = [];
    for (const h of r.unsettled) {
      const last = lastDelivered.get(stream)?.get(h);
      let delivers = false;
      for (const id of candidates(r, h)) {
        const [err, pending] = next();
        const entry = entries.get(`${r.event_type}\u0000${id}`);
        delivers ||= !!entry && entry.eventId === r.id && (entry.target === null || entry.target === h) && last !== undefined &&
          (compareIds(id, last) > 0 || (!err && (pending as unknown[]).length > 0));
      }
      if (!delivers) missing.push(h);
    }
    if (missing.length > 0) lost.set(r.id, missing);
  }
  return lost;
}

/**
 * Keeps only the (event, handler) pairs still unsettled now: a handler may have committed (and
 * acked) between the page's read and the Redis checks, and must not be sent the event again.
 */
export async function stillUnsettled(sql: Sql, lost: Map<string, string[]>): Promise<Map<string, string[]>> {
  const ids: string[] = [];
  const handlers: string[] = [];
  for (const [id, hs] of lost) for (const h of hs) (ids.push(id), handlers.push(h));
  if (ids.length === 0) return new Map();
  const rows = await sql<{ event_id: string; handler: string }[]>`
    select v.event_id::text as event_id, v.handler from unnest(${ids}::uuid[], ${handlers}::text[]) as v(event_id, handler)
    where not exists (select 1 from processed_events p where p.handler = v.handler and p.event_id = v.event_id)
      and not exists (select 1 from dead_letters d where d.event_id = v.event_id and d.handler = v.handler and d.status = 'open')`;
  const out = new Map<string, string[]>();
  for (const r of rows) out.set(r.event_id, [...(out.get(r.event_id) ?? []), r.handler]);
  return out;
}
