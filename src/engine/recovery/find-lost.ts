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
  /** The partition the relay's entry (stream_id) went to. */
  stream_partition: number;
  /** published_at as UTC text with microseconds, for the next page's start. */
  published_key: string;
  /** Handlers of the scanned pairs that have not settled the event (no processed_events record, no open dead letter). */
  unsettled: string[];
}

export interface Position {
  publishedAt: string;
  id: string;
}

/** Partitions of each event type (type -> partitions) a recovery is limited to. */
export type PartitionScope = Map<string, ReadonlySet<number>>;

/**
 * One page of outbox rows published up to `until`, in (published_at, id) order after `after`,
 * of the types in `pairs`, each with the handlers that have not settled it (among those answerable
 * for it: published after the handler started, see handler_starts). Rows the relay set
 * aside (published with no stream entry) are left out: their `relay` dead letter decides what
 * happens to them, retried or deleted. With `scope`, only rows with an entry in one of its
 * partitions: the relay's, or one published for a single handler (`redrives`). Walks the partial
 * index on published_at, so a week of outbox is read a page at a time.
 */
export async function listPublishedPage(
  sql: Sql, pairs: Pair[], after: Position | null, until: string, limit: number, scope?: { prefix: string; partitions: PartitionScope },
): Promise<PublishedRow[]> {
  const types = pairs.map((p) => p.eventType);
  const handlers = pairs.map((p) => p.handler);
  const scoped = scope ? [...scope.partitions].flatMap(([t, ps]) => [...ps].map((p) => ({ t, p }))) : [];
  const rows = await sql<(Omit<PublishedRow, "unsettled"> & { unsettled: string | null })[]>`
    with subs(event_type, handler) as (select * from unnest(${types}::text[], ${handlers}::text[])),
    starts as (${handlerStartsSql(sql)})
    select o.id, o.event_type, o.aggregate_id, o.tenant_id, o.payload::text as payload, o.created_at, o.stream_id,
      coalesce(o.stream_partition, 0)::int as stream_partition,
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
      ${scope ? sql`and (
        exists (select 1 from unnest(${scoped.map((s) => s.t)}::text[], ${scoped.map((s) => s.p)}::int[]) as l(t, p)
          where l.t = o.event_type and l.p = coalesce(o.stream_partition, 0))
        or exists (select 1 from redrives r where r.event_id = o.id
          and r.stream = any(${scoped.map((s) => keys.stream(scope.prefix, s.t, s.p))}::text[])))` : sql``}
    order by o.published_at, o.id
    limit ${limit}`;
  // Handler names cannot contain commas (see subscribe()).
  return rows.map((r) => ({ ...r, unsettled: r.unsettled ? r.unsettled.split(",") : [] }));
}

/** An entry of one stream (an event type's partition). */
export interface EntryRef {
  stream: string;
  id: string;
}

/** Entries published for one handler (dead-letter retries, re-publishes): event id -> handler -> entries. */
export type RedriveEntries = Map<string, Map<string, EntryRef[]>>;

/** The entries the rows' events were published as for one handler only (see outbox/redrive.ts). */
export async function findRedriveEntries(sql: Sql, rows: PublishedRow[]): Promise<RedriveEntries> {
  const ids = rows.filter((r) => r.unsettled.length > 0).map((r) => r.id);
  const out: RedriveEntries = new Map();
  if (ids.length === 0) return out;
  const found = await sql<{ event_id: string; handler: string; stream: string; entry_id: string }[]>`
    select event_id::text as event_id, handler, stream, entry_id from redrives where event_id = any(${ids}::uuid[])`;
  for (const r of found) {
    const byHandler = out.get(r.event_id) ?? new Map<string, EntryRef[]>();
    byHandler.set(r.handler, [...(byHandler.get(r.handler) ?? []), { stream: r.stream, id: r.entry_id }]);
    out.set(r.event_id, byHandler);
  }
  return out;
}

/** What one stream says about some of its entries: each group's last-delivered id, the entries, which are pending for whom. */
interface StreamProbe {
  lastDelivered: Map<string, string>;
  /** Entry id -> the event id and target it holds, or null when it is gone. */
  entries: Map<string, { eventId: unknown; target: string | null } | null>;
  /** `<handler>\0<entry id>` of the entries pending in that handler's group. */
  pending: Set<string>;
}

/** One pipeline on one stream (so one slot): XINFO GROUPS, an XRANGE per entry, an XPENDING per (handler, entry). */
async function probeStream(redis: Redis, stream: string, entryIds: string[], pendingChecks: string[]): Promise<StreamProbe> {
  const pipeline = redis.pipeline();
  pipeline.xinfo("GROUPS", stream);
  for (const id of entryIds) pipeline.xrange(stream, id, id);
  for (const check of pendingChecks) {
    const [h, id] = check.split("\u0000") as [string, string];
    pipeline.xpending(stream, h, id, id, 1);
  }
  const replies = (await pipeline.exec()) ?? [];
  let i = 0;
  const next = () => replies[i++] ?? [new Error("no reply"), null];
  const [err, groups] = next();
  const lastDelivered = new Map<string, string>();
  if (!err) for (const flat of groups as unknown[][]) lastDelivered.set(String(flat[flat.indexOf("name") + 1]), String(flat[flat.indexOf("last-delivered-id") + 1]));
  const entries = new Map<string, { eventId: unknown; target: string | null } | null>();
  for (const id of entryIds) {
    const [err, found] = next();
    const entry = !err ? (found as [string, string[]][])[0] : undefined;
    const fields = entry ? fieldsOf(entry[1]) : null;
    entries.set(id, fields ? { eventId: fields.id, target: (fields.target as string | undefined) || null } : null);
  }
  const pending = new Set<string>();
  for (const check of pendingChecks) {
    const [err, found] = next();
    if (!err && (found as unknown[]).length > 0) pending.add(check);
  }
  return { lastDelivered, entries, pending };
}

/**
 * For each row, the unsettled handlers whose consumer group will deliver none of the event's
 * entries: neither the one the relay published (its stream_id, in its stream_partition) nor one
 * published for that handler alone (a re-drive, in the stream it recorded). An entry is delivered
 * when it still holds the event (and targets no other handler) and the group of its stream either
 * has not read that far or holds it pending. Those handlers need the event published again; the
 * others get it from Redis as it is. One pipeline per stream touched, all sent at once: one round
 * trip per page, and no command across slots.
 */
export async function findLostDeliveries(redis: Redis, prefix: string, rows: PublishedRow[], redrives: RedriveEntries = new Map()): Promise<Map<string, string[]>> {
  const todo = rows.filter((r) => r.unsettled.length > 0);
  const candidates = (r: PublishedRow, h: string): EntryRef[] =>
    [{ stream: keys.stream(prefix, r.event_type, r.stream_partition), id: r.stream_id }, ...(redrives.get(r.id)?.get(h) ?? [])];
  const asked = new Map<string, { entries: Set<string>; pending: Set<string> }>();
  for (const r of todo) {
    for (const h of r.unsettled) {
      for (const c of candidates(r, h)) {
        const a = asked.get(c.stream) ?? { entries: new Set<string>(), pending: new Set<string>() };
        a.entries.add(c.id);
        a.pending.add(`${h}\u0000${c.id}`);
        asked.set(c.stream, a);
      }
    }
  }
  const probes = new Map(await Promise.all([...asked].map(async ([stream, a]) =>
    [stream, await probeStream(redis, stream, [...a.entries], [...a.pending])] as const)));

  const lost = new Map<string, string[]>();
  for (const r of todo) {
    const missing = r.unsettled.filter((h) => !candidates(r, h).some((c) => {
      const probe = probes.get(c.stream)!;
      const entry = probe.entries.get(c.id);
      const last = probe.lastDelivered.get(h);
      return !!entry && entry.eventId === r.id && (entry.target === null || entry.target === h) && last !== undefined &&
        (compareIds(c.id, last) > 0 || probe.pending.has(`${h}\u0000${c.id}`));
    }));
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
