import { randomUUID } from "node:crypto";
import type Redis from "ioredis";
import type { Sql } from "../db.ts";
import { passPublishBarrier } from "../outbox/barrier.ts";
import { recreateGroupAtEnd } from "../delivery/groups.ts";
import { partitionsOf, partitionsToRead, SINGLE_PARTITION, type Layout } from "../partitions/layout.ts";
import { keys } from "../redis/keys.ts";
import type { Pair, PartitionScope } from "./find-lost.ts";
import { recordMissingStarts, withRecordedStart } from "./handler-starts.ts";
import { beginParts, finishParts, partName, partsOf, vouchedBefore, type Part } from "./part-sentinels.ts";
import { republishUndelivered } from "./republish.ts";
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
 * sentinel was gone (Redis lost its data); `restarted`: Redis restarted since the last check (its
 * run id changed); `rolled_back`: the write counter went backwards (a failover to a replica that
 * missed writes, or a restore), noticed without INFO. Those recover everything. `part_lost`: the
 * sentinel stayed but some partitions' (or the dead-letter copies') own sentinels were gone (one
 * shard of a cluster lost its data, or those keys were deleted, or a consumer group of them
 * vanished): only those are recovered. `part_new`: partitions never vouched for before (a type
 * first read, a partition count raised) get their sentinels, the same way.
 */
export type RecoveryReason = "first_start" | "missing" | "restarted" | "rolled_back" | "part_lost" | "part_new";

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
  /** The parts recovered, `<type>#<partition>` or `dead letters`: every one the subscriptions read, or the lost ones. */
  parts: string[];
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
  /**
   * The engine's layout: where an event published again goes, and (with the counts recorded in
   * stream_partitions) which partitions of each type are looked at. Defaults to SINGLE_PARTITION.
   */
  layout?: Layout;
  signal?: AbortSignal;
  pageSize?: number;
}

/**
 * Brings Redis back in line with the outbox after it lost data. MUST run under the fleet's
 * recovery lock, and MUST write the sentinel last, and only if Redis kept everything since the
 * recovery began (same run id, its token still there): a crash or a second data loss part-way
 * leaves it missing, so the job is done again (the duplicates that makes are absorbed by
 * processed_events).
 * 1. Every subscription's group is created if missing, on every partition of its type, at the
 *    stream's end (entries already there may be ones the handler settled or dead-lettered, which
 *    must not run again).
 * 2. The publish barrier: every relay batch or retry that XADDed before step 1 has committed.
 * 3. Every outbox row published before the barrier that some handler has not settled (no
 *    processed_events record, no open dead letter) and whose entry that handler's group will not
 *    deliver is published again, to its partition under the current layout: one plain entry if
 *    every handler of its type lost it, else one entry per handler that did (`target`). Rows
 *    published after the barrier went to the groups.
 * 4. Open dead letters get their Redis copies back.
 * 5. Each partition's own sentinel, then the sentinel. A part whose token went (its shard lost its
 *    data meanwhile) gets none, and the next check recovers it alone.
 */
export async function recoverStreams(deps: RecoveryDeps, reason: RecoveryReason): Promise<RecoveryReport> {
  const { sql, redis, prefix, subscriptions, signal, layout = SINGLE_PARTITION } = deps;
  const started = Date.now();
  const counts = await partitionsToRead(sql, layout, subscriptions.map((s) => s.eventType));
  const parts = partsOf(counts);
  const runId = await readRunId(redis);
  const token = await beginRecovery(redis, prefix);
  await beginParts(redis, prefix, parts, token);
  // A new deployment: its handlers' groups are created here, before they join, and answer for
  // everything published so far. Recorded first, so a join racing this cannot record a later start.
  if (reason === "first_start") await recordMissingStarts(sql, subscriptions);
  const recreatedGroups = await recreateGroups(redis, prefix, subscriptions, (type) => partitionsOf(counts.get(type) ?? 1));
  const until = await passPublishBarrier(sql, prefix);

  const republishedEvents = await republishUndelivered({ ...deps, layout }, subscriptions, until);
  if (signal?.aborted) throw new Error("recovery stopped before it finished");
  const restoredDeadLetters = await restoreDeadLetterCopies(sql, redis, prefix, signal);
  if (signal?.aborted) throw new Error("recovery stopped before it finished");
  // Redis lost data again while this ran (the token is gone), or restarted (another run id): what
  // was done may be gone too, so no sentinel vouches for it and the next check does it all again.
  const sentinel = { runId, recoveredAt: new Date().toISOString(), by: deps.consumer };
  await finishParts(redis, prefix, parts, token, JSON.stringify(sentinel));
  if ((await readRunId(redis)) !== runId || !(await finishRecovery(redis, prefix, token, sentinel))) {
    throw new RecoveryInterrupted();
  }
  await recordSentinel(sql, prefix);
  return { reason, at: new Date(), durationMs: Date.now() - started, recreatedGroups, republishedEvents, restoredDeadLetters, parts: parts.map(partName) };
}

/**
 * Recovers the parts of Redis whose own sentinel is gone while the rest kept theirs, the same way
 * as recoverStreams but for them alone: their groups are recreated at the end, the rows with an
 * entry in them are published again where a handler's group will not deliver them, and the
 * dead-letter copies come back if that part is among them. Other partitions' streams get nothing.
 * Only handlers that started reading a type are recovered: one yet to join has no group to lose
 * and answers for no history before it joins (joinSubscription creates its groups). Same rules
 * as recoverStreams: under the recovery lock, each part's sentinel written last and only if its
 * token is still there.
 */
export async function recoverParts(deps: RecoveryDeps, lost: Part[]): Promise<RecoveryReport> {
  const { sql, redis, prefix, subscriptions, signal, layout = SINGLE_PARTITION } = deps;
  const started = Date.now();
  const reason = (await vouchedBefore(redis, prefix, lost)).length > 0 ? "part_lost" : "part_new";
  const scope: PartitionScope = new Map();
  for (const p of lost) if (!("deadLetters" in p)) scope.set(p.eventType, new Set([...(scope.get(p.eventType) ?? []), p.partition]));
  const pairs = await withRecordedStart(sql, subscriptions.filter((s) => scope.has(s.eventType)));
  const token = randomUUID();
  await beginParts(redis, prefix, lost, token);
  const recreatedGroups = await recreateGroups(redis, prefix, pairs, (type) => [...scope.get(type)!]);
  const until = await passPublishBarrier(sql, prefix);

  const republishedEvents = await republishUndelivered({ ...deps, layout }, pairs, until, { partitions: scope });
  if (signal?.aborted) throw new Error("recovery stopped before it finished");
  const restoredDeadLetters = lost.some((p) => "deadLetters" in p) ? await restoreDeadLetterCopies(sql, redis, prefix, signal) : 0;
  if (signal?.aborted) throw new Error("recovery stopped before it finished");
  const sentinel = { recoveredAt: new Date().toISOString(), by: deps.consumer };
  if ((await finishParts(redis, prefix, lost, token, JSON.stringify(sentinel))).length > 0) throw new RecoveryInterrupted();
  return { reason, at: new Date(), durationMs: Date.now() - started, recreatedGroups, republishedEvents, restoredDeadLetters, parts: lost.map(partName) };
}

/** Creates each pair's group on each of its type's `partitions` that lacks it, at the stream's end, all at once. Returns how many were created. */
async function recreateGroups(redis: Redis, prefix: string, pairs: Pair[], partitions: (eventType: string) => number[]): Promise<number> {
  const created = await Promise.all(pairs.flatMap((s) =>
    partitions(s.eventType).map((p) => recreateGroupAtEnd(redis, keys.stream(prefix, s.eventType, p), s.handler))));
  return created.filter(Boolean).length;
}
