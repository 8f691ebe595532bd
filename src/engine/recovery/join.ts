import type Redis from "ioredis";
import type { Sql } from "../db.ts";
import { passPublishBarrier } from "../outbox/barrier.ts";
import { keys } from "../redis/keys.ts";
import type { Logger } from "../support/logger.ts";
import { markCaughtUp, readHandlerStart, recordHandlerStart } from "./handler-starts.ts";
import { republishUndelivered } from "./recover.ts";

export interface JoinDeps {
  sql: Sql;
  redis: Redis;
  prefix: string;
  log: Logger;
}

/**
 * Gives a handler a defined start on an event type, once, before it first reads it. A new handler
 * answers for the events published from now on: its group starts at the stream's end, so it does
 * not inherit the type's history (and retention and recovery do not make it answer for that
 * history either). With `backfill` it answers for every event still in the outbox instead, and
 * its group starts at the stream's beginning. Either way the events published while the group was
 * being created, which it will not deliver, are published again to this handler alone. Safe to
 * run on several machines at once, and again after a crash: it is marked done only at the end.
 * A handler whose group already exists ran before starts were recorded: it answers for everything.
 */
export async function joinSubscription(deps: JoinDeps, sub: { handler: string; eventType: string; backfill?: boolean }): Promise<void> {
  const { sql, redis, prefix, log } = deps;
  const { handler, eventType } = sub;
  const recorded = await readHandlerStart(sql, handler, eventType);
  if (recorded?.caughtUp) return;
  const stream = keys.stream(prefix, eventType);
  const groupExists = await hasGroup(redis, stream, handler);
  const start = recorded ?? (await recordHandlerStart(sql, handler, eventType, !!sub.backfill || groupExists));
  if (start.everything && !sub.backfill) return markCaughtUp(sql, handler, eventType);
  try {
    await redis.xgroup("CREATE", stream, handler, sub.backfill ? "0" : "$", "MKSTREAM");
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith("BUSYGROUP")) throw err;
  }
  // Every relay batch that XADDed before the group existed has committed after the barrier.
  const until = await passPublishBarrier(sql, prefix);
  const republished = await republishUndelivered({ sql, redis, prefix }, [{ eventType, handler }], until, { targetedOnly: true });
  await markCaughtUp(sql, handler, eventType);
  log.info("handler joined its event type", { handler, eventType, from: sub.backfill ? "every event in the outbox (backfill)" : start.startedAt, republished });
}

async function hasGroup(redis: Redis, stream: string, group: string): Promise<boolean> {
  const groups = (await redis.xinfo("GROUPS", stream).catch((err: Error) => {
    if (/no such key/i.test(err.message)) return [];
    throw err;
  })) as unknown[][];
  return groups.some((flat) => String(flat[flat.indexOf("name") + 1]) === group);
}
