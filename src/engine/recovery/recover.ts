import type Redis from "ioredis";
import type { Sql } from "../db.ts";
import { passPublishBarrier } from "../outbox/barrier.ts";
import { recreateGroupAtEnd } from "../delivery/groups.ts";
import { keys } from "../redis/keys.ts";
import { publishRows } from "../outbox/publish.ts";
import { publishFor } from "../outbox/redrive.ts";
import { findLostDeliveries, findRedriveEntries, listPublishedPage, stillUnsettled, type Pair, type Position, type PublishedRow } from "./find-lost.ts";
import { restoreDeadLetterCopies } from "./restore-dead-letters.ts";
import { beginRecovery, finishRecovery, readRunId, recordSentinel } from "./sentinel.ts";

/** Redis lost data or restarted while a recovery ran: it must run again from the start. */
export class RecoveryInterrupted extends Error {
  override name = "RecoveryInterrupted";
  constructor() {
    super("Redis lost data or restarted during the recovery; running it again");
  }
}

/**
 * `first_start`: this prefix never had a sentinel (a new deployment, nothing lost); `missing`: the
 * sentinel was gone (Redis lost its data, or a group vanished); `restarted`: Redis restarted since
 * the last check (its run id changed); `rolled_back`: the write counter went backwards (a failover
 * to a replica that missed writes, or a restore), noticed without INFO.
 */
export type RecoveryReason = "first_start" | "missing" | "restarted" | "rolled_back";

export interface RecoveryReport {
  reason: RecoveryReason;
  at: Date;
  durationMs: number;
  /** Consumer groups that did not exist and were created. */
  recreatedGroups: number;
  /** Outbox rows published again (once, or once per handler that lost them). */
  republishedEvents: number;
  /** Open dead letters whose Redis copy was written again. */
  restoredDeadLetters: number;
}

export interface RecoveryDeps {
  sql: Sql;
  redis: Redis;
  prefix: string;
  /**
   * Which handlers read which event types: this process's subscriptions. Every machine runs the
   * same code, so they are the fleet's; the groups in Redis, which would say more, are exactly
   * what was lost. (A handler only a newer version runs, mid-deploy, recreates its group when it
   * starts, and the newer machines' own recovery covers it.)
   */
  subscriptions: Pair[];
  /** This process's consumer name, recorded in the sentinel. */
  consumer: string;
  signal?: AbortSignal;
  pageSize?: number;
}

/**
 * Brings Redis back in line with the outbox after it lost data. MUST run under the fleet's
 * recovery lock, and MUST write the sentinel last, and only if Redis kept everything since the
 * recovery began (same run id, its token still there): a crash or a second data loss part-way
 * leaves it missing, so the job is done again (the duplicates that makes are absorbed by
 * processed_events).
 * 1. Every subscription's group is created if missing, at the stream's end (entries already
 *    there may be ones the handler settled or dead-lettered, which must not run again).
 * 2. The publish barrier: every relay batch or retry that XADDed before step 1 has committed.
 * 3. Every outbox row published before the barrier that some handler has not settled (no
 *    processed_events record, no open dead letter) and whose entry that handler's group will not
 *    deliver is published again: one plain entry if every handler of its type lost it, else one
 *    entry per handler that did (`target`). Rows published after the barrier went to the groups.
 * 4. Open dead letters get their Redis copies back.
 */
export async function recoverStreams(deps: RecoveryDeps, reason: RecoveryReason): Promise<RecoveryReport> {
  const { sql, redis, prefix, subscriptions, signal, pageSize = 500 } = deps;
  const started = Date.now();
  const runId = await readRunId(redis);
  const token = await beginRecovery(redis, prefix);
  let recreatedGroups = 0;
  for (const s of subscriptions) if (await recreateGroupAtEnd(redis, keys.stream(prefix, s.eventType), s.handler)) recreatedGroups++;
  const until = await passPublishBarrier(sql, prefix);

  const republishedEvents = await republishUndelivered({ sql, redis, prefix, signal, pageSize }, subscriptions, until);
  if (signal?.aborted) throw new Error("recovery stopped before it finished");
  const restoredDeadLetters = await restoreDeadLetterCopies(sql, redis, prefix, signal);
  if (signal?.aborted) throw new Error("recovery stopped before it finished");
  // Redis lost data again while this ran (the token is gone), or restarted (another run id): what
  // was done may be gone too, so no sentinel vouches for it and the next check does it all again.
  const sentinel = { runId, recoveredAt: new Date().toISOString(), by: deps.consumer };
  if ((await readRunId(redis)) !== runId || !(await finishRecovery(redis, prefix, token, sentinel))) {
    throw new RecoveryInterrupted();
  }
  await recordSentinel(sql, prefix);
  return { reason, at: new Date(), durationMs: Date.now() - started, recreatedGroups, republishedEvents, restoredDeadLetters };
}

/**
 * Publishes again every row published up to `until` that a handler of `pairs` answers for, has
 * not settled, and whose entry its group will not deliver, a page at a time; with `targetedOnly`
 * always one entry per handler (for one handler joining, whose siblings must not run it again).
 * Returns how many rows went out.
 */
export async function republishUndelivered(
  deps: { sql: Sql; redis: Redis; prefix: string; signal?: AbortSignal; pageSize?: number },
  pairs: Pair[], until: string, { targetedOnly = false } = {},
): Promise<number> {
  const { sql, redis, prefix, signal, pageSize = 500 } = deps;
  const handlersOf = new Map<string, number>();
  for (const s of pairs) handlersOf.set(s.eventType, targetedOnly ? Infinity : (handlersOf.get(s.eventType) ?? 0) + 1);
  let republished = 0;
  let after: Position | null = null;
  while (pairs.length > 0 && !signal?.aborted) {
    const page: PublishedRow[] = await listPublishedPage(sql, pairs, after, until, pageSize);
    if (page.length === 0) break;
    const lost = await stillUnsettled(sql, await findLostDeliveries(redis, prefix, page, await findRedriveEntries(sql, page)));
    republished += await publishAgain(sql, redis, prefix, page.filter((r) => lost.has(r.id)), lost, handlersOf);
    const last = page[page.length - 1]!;
    after = { publishedAt: last.published_key, id: last.id };
    if (page.length < pageSize) break;
  }
  return republished;
}

/**
 * XADDs the rows again: plain where every handler of the type lost the event (and the row's
 * stream_id then names the new entry, so a deleted pending entry can still be traced to it),
 * else targeted at each handler that lost it. Returns how many rows went out.
 */
async function publishAgain(
  sql: Sql, redis: Redis, prefix: string, rows: PublishedRow[], lost: Map<string, string[]>, handlersOf: Map<string, number>,
): Promise<number> {
  if (rows.length === 0) return 0;
  const plain = rows.filter((r) => lost.get(r.id)!.length === handlersOf.get(r.event_type));
  const byHandler = new Map<string, PublishedRow[]>();
  for (const r of rows) {
    if (plain.includes(r)) continue;
    for (const h of lost.get(r.id)!) byHandler.set(h, [...(byHandler.get(h) ?? []), r]);
  }
  const plainIds = plain.length ? await publishRows(redis, prefix, plain) : [];
  if (plain.length > 0) {
    await sql`
      update outbox o set stream_id = v.stream_id
      from unnest(${plain.map((r) => r.id)}::uuid[], ${plainIds}::text[]) as v(id, stream_id) where o.id = v.id`;
  }
  for (const [handler, group] of byHandler) await publishFor(sql, redis, prefix, handler, group);
  return rows.length;
}
