import type Redis from "ioredis";
import { databaseNow, type Sql } from "../db.ts";
import { passPublishBarrier } from "../outbox/barrier.ts";
import { partitionsOf, type Layout } from "../partitions/layout.ts";
import { keys } from "../redis/keys.ts";
import type { Logger } from "../support/logger.ts";
import { markCaughtUp, readHandlerStart, recordHandlerStart } from "./handler-starts.ts";
import { republishUndelivered } from "./republish.ts";

export interface JoinDeps {
  sql: Sql;
  redis: Redis;
  prefix: string;
  log: Logger;
  /** Where the events it missed are published again. Defaults to SINGLE_PARTITION. */
  layout?: Layout;
}

/**
 * Gives a handler a defined start on an event type, once, before it first reads it. A new handler
 * answers for the events published from now on: its group starts at the end of each of the type's
 * `partitions` streams (the count its consumers read, partitionsToRead), so it does not inherit
 * the type's history (and retention and recovery do not make it answer for that history either).
 * With `backfill` it answers for every event still in the outbox instead, and its groups start at
 * the streams' beginning. Either way the events published while the groups were being created,
 * which they will not deliver, are published again to this handler alone. Safe to run on several
 * machines at once, and again after a crash: it is marked done only at the end. A handler whose
 * group already exists on some partition ran before starts were recorded: it answers for
 * everything. Partitions added later get their groups from the consumers, from their beginning:
 * everything in them was published after this start.
 */
export async function joinSubscription(deps: JoinDeps, sub: { handler: string; eventType: string; backfill?: boolean }, partitions: number): Promise<void> {
  const { sql, redis, prefix, log } = deps;
  const { handler, eventType } = sub;
  const recorded = await readHandlerStart(sql, handler, eventType);
  if (recorded?.caughtUp) return;
  const streams = partitionsOf(partitions).map((p) => keys.stream(prefix, eventType, p));
  const start = recorded ?? (await firstStart(deps, sub, streams));
  if (start.everything && !sub.backfill) return markCaughtUp(sql, handler, eventType);
  await Promise.all(streams.map((s) => createGroup(redis, s, handler, sub.backfill ? "0" : "$")));
  // Every relay batch that XADDed before the groups existed has committed after the barrier.
  const until = await passPublishBarrier(sql, prefix);
  const republished = await republishUndelivered({ sql, redis, prefix, layout: deps.layout }, [{ eventType, handler }], until, { targetedOnly: true });
  await markCaughtUp(sql, handler, eventType);
  log.info("handler joined its event type", { handler, eventType, partitions, from: sub.backfill ? "every event in the outbox (backfill)" : start.startedAt, republished });
}

/**
 * Records the handler's start: every event when it backfills or a group of it exists already (it
 * ran before starts were recorded), else the moment before the groups were looked at. A group
 * another machine (or a recovery) creates meanwhile delivers what is published from then on, and
 * the handler must answer for that too, or a data loss right after would not publish it again.
 */
async function firstStart({ sql, redis }: JoinDeps, sub: { handler: string; eventType: string; backfill?: boolean }, streams: string[]) {
  const startedAt = await databaseNow(sql);
  const groupExists = (await Promise.all(streams.map((s) => hasGroup(redis, s, sub.handler)))).some(Boolean);
  return recordHandlerStart(sql, sub.handler, sub.eventType, !!sub.backfill || groupExists, startedAt);
}

async function createGroup(redis: Redis, stream: string, group: string, from: "0" | "$"): Promise<void> {
  try {
    await redis.xgroup("CREATE", stream, group, from, "MKSTREAM");
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith("BUSYGROUP")) throw err;
  }
}

async function hasGroup(redis: Redis, stream: string, group: string): Promise<boolean> {
  const groups = (await redis.xinfo("GROUPS", stream).catch((err: Error) => {
    if (/no such key/i.test(err.message)) return [];
    throw err;
  })) as unknown[][];
  return groups.some((flat) => String(flat[flat.indexOf("name") + 1]) === group);
}
