import { toError } from "../support/errors.ts";
import { withLock } from "../support/lock.ts";
import type { Logger } from "../support/logger.ts";
import { outageLog } from "../support/outage-log.ts";
import { recreateGroupAtEnd } from "../delivery/groups.ts";
import { keys } from "../redis/keys.ts";
import { partitionsToRead, SINGLE_PARTITION } from "../partitions/layout.ts";
import type { Pair } from "./find-lost.ts";
import { dropPart, findMissingParts, partsOf, type Part } from "./part-sentinels.ts";
import { RecoveryInterrupted, recoverParts, recoverStreams, type RecoveryDeps, type RecoveryReason, type RecoveryReport } from "./recover.ts";
import { hadSentinel, observeRedis, readRunId } from "./sentinel.ts";

export interface RecoveryStatus {
  /** The last check that Redis still holds what the outbox says it should (a GET, every second). */
  lastCheckAt: Date | null;
  /** The last recovery this process ran, or null. */
  last: RecoveryReport | null;
  lastError: string | null;
  running: boolean;
}

export interface RecoveryWatcher {
  /** Checks now (recovering if needed), or waits for the check under way and runs one more. */
  check(): Promise<void>;
  /**
   * A consumer group vanished under a running subscription of one partition (0 if not given):
   * recreates it at the stream's end at once (so reading goes on) and drops that partition's
   * sentinel, so the recovery of that partition re-publishes what it needed.
   */
  groupLost(pair: Pair & { partition?: number }): Promise<void>;
  status(): RecoveryStatus;
  /** Stops checking and waits for a recovery under way to stop at its next page. */
  stop(): Promise<void>;
}

export interface WatcherOptions extends Omit<RecoveryDeps, "signal"> {
  log: Logger;
  intervalMs?: number;
  /**
   * The recovery lock's lifetime, renewed every third of it while its holder lives. A holder that
   * dies mid-recovery (SIGKILL) keeps the fleet from recovering for up to this long, so it is
   * short; losing it to a stall only lets a second recovery run beside the first, whose
   * duplicates processed_events absorbs. Defaults to 10 s.
   */
  lockTtlMs?: number;
  /** How long the partitions watched (from the layout and stream_partitions) are kept before being read again. Defaults to 10 s. */
  partitionsTtlMs?: number;
}

/**
 * Watches for Redis losing data and recovers on its own. Every `intervalMs` one round trip reads
 * the sentinel, increments the write counter and asks whether each partition's own sentinel (and
 * the dead-letter copies') is there. A whole recovery is due when the sentinel is missing
 * (Redis lost its data, or a group was lost; on a prefix that never had one it is a first start),
 * when Redis restarted since it was written (its run id changed: writes acknowledged just before
 * may be gone), or when the counter went backwards (a failover or a restore that lost writes:
 * this works where INFO, and so the run id, is not available). With the sentinel in place, parts
 * missing their own (one shard of a cluster lost its data, a partition's keys were deleted, a
 * group of it vanished) are recovered alone, the other partitions left as they are. One machine
 * of the fleet takes the recovery lock and runs recoverStreams (or recoverParts); the others find
 * the sentinels back when they get the lock, and do nothing. A recovery interrupted by another
 * data loss is run again at once.
 */
export function startRecoveryWatcher({ log, intervalMs = 1_000, lockTtlMs = 10_000, partitionsTtlMs = 10_000, ...deps }: WatcherOptions): RecoveryWatcher {
  const { redis, prefix } = deps;
  const layout = deps.layout ?? SINGLE_PARTITION;
  const status: RecoveryStatus = { lastCheckAt: null, last: null, lastError: null, running: false };
  const abort = new AbortController();
  const outage = outageLog(log, "Redis data-loss check");
  let runId: string | null = null;
  let runIdAsked = false;
  /**
   * The write counter as this process last saw it, with the sentinel it saw then: a later value no
   * higher under the same sentinel means Redis lost writes. A new sentinel (another machine
   * recovered meanwhile, which starts the counter over) is a new baseline, not a loss.
   */
  let lastSeq = 0;
  let lastSentinel: string | null = null;
  let current: Promise<void> | null = null;
  let again = false;

  // The partitions a count raised elsewhere adds (stream_partitions) are watched within
  // partitionsTtlMs. PostgreSQL being down does not stop the check: the last known (or this
  // process's own) partitions are watched meanwhile.
  const types = deps.subscriptions.map((s) => s.eventType);
  let watched: { parts: Part[]; at: number } | null = null;
  const partsToWatch = async () => {
    if (!watched || Date.now() - watched.at >= partitionsTtlMs) {
      const counts = await partitionsToRead(deps.sql, layout, types).catch(() => null);
      if (counts) watched = { parts: partsOf(counts), at: Date.now() };
      else watched ??= { parts: partsOf(new Map(types.map((t) => [t, layout.count(t)]))), at: 0 };
    }
    return watched.parts;
  };

  /** Why a recovery is due, and for a partial one the parts it is due for; null when Redis holds what it should. */
  const reasonToRecover = async (): Promise<{ reason: RecoveryReason; lost?: Part[] } | null> => {
    const parts = await partsToWatch();
    const [{ sentinel, seq }, lost] = await Promise.all([observeRedis(redis, prefix), findMissingParts(redis, prefix, parts)]);
    const identity = sentinel && `${sentinel.recoveredAt}|${sentinel.by}`;
    const rolledBack = seq <= lastSeq && identity === lastSentinel;
    lastSeq = seq;
    lastSentinel = identity;
    if (!sentinel) return { reason: (await hadSentinel(deps.sql, prefix)) ? "missing" : "first_start" };
    if (runId && sentinel.runId && sentinel.runId !== runId) return { reason: "restarted" };
    if (rolledBack) return { reason: "rolled_back" };
    return lost.length > 0 ? { reason: "part_lost", lost } : null;
  };

  const checkOnce = async () => {
    if (!runIdAsked) runId = await readRunId(redis); // null where INFO is not allowed: the sentinel alone then
    runIdAsked = true;
    const first = await reasonToRecover();
    if (!first) return;
    const locked = await withLock(redis, keys.lock(prefix, "recovery"), lockTtlMs, async () => {
      // Another machine may have recovered while this one waited for the lock: decide again.
      runId = (await readRunId(redis)) ?? runId;
      // A rolled-back counter was seen before the lock: it stays the reason even though this
      // second look (after the lock) sees it growing again.
      const due = (await reasonToRecover()) ?? (first.reason === "rolled_back" ? first : null);
      if (!due) return null;
      if (due.lost) return recoverParts({ ...deps, signal: abort.signal }, due.lost);
      if (due.reason === "first_start") log.info("new Redis for this prefix: creating consumer groups");
      else log.warn("Redis lost data or restarted; recovering from the outbox", { reason: due.reason });
      return recoverStreams({ ...deps, signal: abort.signal }, due.reason);
    });
    // Not acquired: another machine is recovering; the next tick looks again.
    if (locked.acquired && locked.result) {
      const report = locked.result;
      status.last = report;
      if (report.reason === "first_start") {
        log.info("created consumer groups", { groups: report.recreatedGroups });
        return;
      }
      if (report.reason === "part_new") {
        log.info("vouched for partitions read for the first time", { parts: report.parts, groups: report.recreatedGroups, republishedEvents: report.republishedEvents });
        return;
      }
      log.info("recovered from Redis data loss", {
        reason: report.reason, ...(report.reason === "part_lost" ? { parts: report.parts } : {}), republishedEvents: report.republishedEvents, restoredDeadLetters: report.restoredDeadLetters,
        recreatedGroups: report.recreatedGroups, durationMs: report.durationMs,
      });
    }
  };

  const run = async () => {
    do {
      again = false;
      try {
        await checkOnce();
        status.lastCheckAt = new Date();
        status.lastError = null;
        outage.ok();
      } catch (thrown) {
        if (abort.signal.aborted) break;
        if (thrown instanceof RecoveryInterrupted) {
          log.warn(thrown.message);
          again = true;
          continue;
        }
        const err = toError(thrown);
        status.lastError = err.message;
        outage.failed(err);
      }
    } while (again && !abort.signal.aborted);
  };

  const check = (): Promise<void> => {
    if (abort.signal.aborted) return Promise.resolve();
    if (current) {
      again = true;
      return current;
    }
    status.running = true;
    current = run().finally(() => {
      current = null;
      status.running = false;
    });
    return current;
  };

  // A reconnect may be to a restarted Redis (or a promoted replica): learn its run id again.
  const onReady = () => void readRunId(redis).then((id) => (runId = id ?? runId)).then(() => check());
  redis.on("ready", onReady);
  const timer = setInterval(() => void check(), intervalMs);

  return {
    check,
    async groupLost({ eventType, handler, partition = 0 }) {
      if (await recreateGroupAtEnd(redis, keys.stream(prefix, eventType, partition), handler)) {
        log.warn("consumer group was missing: recreated at the stream's end; recovering what it still needed from the outbox", { handler, eventType, partition });
        // Dropped with its token: a recovery under way (which may have looked at the group before
        // it vanished) does not vouch for this partition, and the next check recovers it.
        await dropPart(redis, prefix, { eventType, partition });
      }
      void check();
    },
    status: () => ({ ...status }),
    async stop() {
      clearInterval(timer);
      redis.off("ready", onReady);
      abort.abort();
      await current;
    },
  };
}
