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

/**
 * For each row, the unsettled handlers whose consumer group will not deliver its entry: the
 * entry is gone (or is another event's, or targets another handler), or the group has already
 * read past it and does not hold it pending. Those need the event published again; the others
 * get it from Redis as it is. Pipelined: one round trip per page.
 */
export async function findLostDeliveries(redis: Redis, prefix: string, rows: PublishedRow[]): Promise<Map<string, string[]>> {
  const todo = rows.filter((r) => r.unsettled.length > 0);
  const streams = [...new Set(todo.map((r) => keys.stream(prefix, r.event_type)))];
  const pipeline = redis.pipeline();
  for (const stream of streams) pipeline.xinfo("GROUPS", stream);
  for (const r of todo) pipeline.xrange(keys.stream(prefix, r.event_type), r.stream_id, r.stream_id);
  for (const r of todo) for (const h of r.unsettled) pipeline.xpending(keys.stream(prefix, r.event_type), h, r.stream_id, r.stream_id, 1);
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
  const entryOk = new Map<string, { target: string | null } | null>();
  for (const r of todo) {
    const [err, entries] = next();
    const entry = !err ? (entries as [string, string[]][])[0] : undefined;
    const fields = entry ? fieldsOf(entry[1]) : null;
    entryOk.set(r.id, fields && fields.id === r.id ? { target: (fields.target as string | undefined) || null } : null);
  }
  const lost = new Map<string, string[]>();
  for (const r of todo) {
    const stream = keys.stream(prefix, r.event_type);
    const entry = entryOk.get(r.id);
    const missing: string[] = [];
    for (const h of r.unsettled) {
      const [err, pending] = next();
      const last = lastDelivered.get(stream)?.get(h);
      const delivers = !!entry && (entry.target === null || entry.target === h) && last !== undefined &&
        (compareIds(r.stream_id, last) > 0 || (!err && (pending as unknown[]).length > 0));
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
