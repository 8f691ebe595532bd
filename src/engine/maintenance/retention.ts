import type Redis from "ioredis";
import type { Sql } from "../db.ts";
import { eventTypeOf } from "../redis/keys.ts";
import { scanAll } from "../redis/scan.ts";
import { removeStaleConsumers, trimStream } from "../redis/scripts.ts";
import { handlerStartsSql } from "../recovery/handler-starts.ts";

/** An event type and a handler that reads it: one consumer group. */
export interface Pair {
  eventType: string;
  handler: string;
}

/** Every event stream under the prefix (not the dead-letter stream), on every master of a cluster. */
export async function listEventStreams(redis: Redis, prefix: string): Promise<string[]> {
  return (await scanAll(redis, `${prefix}:*`, { type: "stream" })).filter((key) => eventTypeOf(prefix, key) !== undefined);
}

/**
 * Every (event type, handler) pair with a consumer group in Redis: what the whole fleet subscribes
 * to, not only this process. Retention must not delete a row another machine's handler still needs.
 */
export async function listGroups(redis: Redis, prefix: string): Promise<{ eventType: string; handler: string }[]> {
  const out: { eventType: string; handler: string }[] = [];
  for (const stream of await listEventStreams(redis, prefix)) {
    const groups = (await redis.xinfo("GROUPS", stream).catch(() => [])) as unknown[][];
    for (const flat of groups) out.push({ eventType: eventTypeOf(prefix, stream)!, handler: String(flat[flat.indexOf("name") + 1]) });
  }
  return out;
}

/**
 * Trims every stream below what its groups still need. Streams nobody subscribes to keep
 * `retentionMs` of history.
 */
export async function trimStreams(redis: Redis, prefix: string, retentionMs: number): Promise<number> {
  let trimmed = 0;
  const orphanMinId = `${Math.max(0, Date.now() - retentionMs)}-0`;
  for (const stream of await listEventStreams(redis, prefix)) trimmed += await trimStream(redis, stream, orphanMinId);
  return trimmed;
}

/**
 * Deletes outbox rows published more than `retentionMs` ago that every subscribed handler has
 * processed, with their processed_events records. A row a handler has not processed (pending,
 * retrying, dead-lettered) is kept, and so is a row any open dead letter points at. A handler
 * answers only for events published after it started (handler_starts).
 */
export async function deleteProcessedOutboxRows(sql: Sql, subs: Pair[], retentionMs: number, limit = 5_000): Promise<number> {
  const types = subs.map((s) => s.eventType);
  const handlers = subs.map((s) => s.handler);
  const cutoff = new Date(Date.now() - retentionMs).toISOString();
  const [row] = await sql<{ n: number }[]>`
    with subs(event_type, handler) as (select * from unnest(${types}::text[], ${handlers}::text[])),
    starts as (${handlerStartsSql(sql)}),
    doomed as (
      select o.id from outbox o
      where o.published_at < ${cutoff}::timestamptz
        -- An open dead letter still needs the event and the handlers' records: its retry must
        -- find what was processed, or the event runs twice.
        and not exists (select 1 from dead_letters d where d.event_id = o.id and d.status = 'open')
        and not exists (
          select 1 from starts s where s.event_type = o.event_type and o.published_at >= s.started_at
            and not exists (select 1 from processed_events p where p.handler = s.handler and p.event_id = o.id))
      limit ${limit}
    ),
    gone as (delete from outbox where id in (select id from doomed) returning id),
    records as (delete from processed_events where event_id in (select id from gone))
    select count(*)::int as n from gone`;
  return row?.n ?? 0;
}

/** Removes consumers idle for `staleMs` with nothing pending from every subscribed group, on every partition. */
export async function removeIdleConsumers(redis: Redis, prefix: string, subs: Pair[], staleMs: number, self: string): Promise<number> {
  let removed = 0;
  const streams = await listEventStreams(redis, prefix);
  for (const s of subs) {
    for (const stream of streams.filter((key) => eventTypeOf(prefix, key) === s.eventType)) {
      removed += await removeStaleConsumers(redis, stream, s.handler, staleMs, self).catch(() => 0);
    }
  }
  return removed;
}

/** Deletes up to `limit` retried or deleted dead letters resolved more than `retentionMs` ago; open ones stay. */
export async function deleteResolvedDeadLetters(sql: Sql, retentionMs: number, limit = 5_000): Promise<number> {
  const cutoff = new Date(Date.now() - retentionMs).toISOString();
  const [row] = await sql<{ n: number }[]>`
    with doomed as (
      select id from dead_letters where status <> 'open' and resolved_at < ${cutoff}::timestamptz limit ${limit}
    ),
    gone as (delete from dead_letters where id in (select id from doomed) returning 1)
    select count(*)::int as n from gone`;
  return row?.n ?? 0;
}
