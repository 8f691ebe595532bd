import { Cron } from "croner";
import { collectStreamStats } from "../delivery/stream-stats.ts";
import type { ResolvedOptions } from "../options.ts";
import { countOutbox } from "../outbox/claim.ts";
import { deleteOldRedrives } from "../outbox/redrive.ts";
import type { RelayStatus } from "../outbox/relay-schedule.ts";
import { keys } from "../redis/keys.ts";
import { toError } from "../support/errors.ts";
import { withLock } from "../support/lock.ts";
import { outageLog } from "../support/outage-log.ts";
import { pruneBacklog } from "../outbox/ordered-backlog.ts";
import { deleteProcessedOutboxRows, deleteResolvedDeadLetters, listEventStreams, listGroups, removeIdleConsumers, trimStreams, type Pair } from "./retention.ts";

/**
 * One maintenance pass (trim, outbox retention, resolved dead letters, stale consumers) if no
 * other machine is running one; true when this process ran it.
 */
export async function runMaintenance(o: ResolvedOptions, own: Pair[], signal: AbortSignal): Promise<boolean> {
  const { redis, sql, prefix, log } = o;
  const result = await withLock(redis, keys.lock(prefix, "maintenance"), 60_000, async () => {
    const trimmed = await trimStreams(redis, prefix, o.retentionMs);
    // The fleet's subscriptions (groups in Redis) plus this process's own, in case a group was lost.
    const fleet = uniquePairs([...(await listGroups(redis, prefix)), ...own]);
    let deleted = 0;
    for (let n = -1; n !== 0 && !signal.aborted; ) {
      n = await deleteProcessedOutboxRows(sql, fleet, o.retentionMs);
      deleted += n;
    }
    let resolved = 0;
    for (let n = -1; n !== 0 && !signal.aborted; ) {
      n = await deleteResolvedDeadLetters(sql, o.retentionMs);
      resolved += n;
    }
    const forgotten = await deleteOldRedrives(sql, o.retentionMs);
    let pruned = 0;
    for (let n = -1; n !== 0 && !signal.aborted; ) {
      n = await pruneBacklog(sql);
      pruned += n;
    }
    const removed = await removeIdleConsumers(redis, prefix, fleet, o.consumerStaleMs, o.consumerName);
    if (trimmed || deleted || resolved || removed || forgotten || pruned) {
      log.info("maintenance", { trimmedEntries: trimmed, deletedOutboxRows: deleted, deletedDeadLetters: resolved, removedConsumers: removed, forgottenRedrives: forgotten, prunedBacklog: pruned });
    }
  });
  return result.acquired;
}

/** Runs `pass` on the maintenance schedule; returns the stop function. */
export function scheduleMaintenance(o: ResolvedOptions, pass: () => Promise<boolean>): () => void {
  const outage = outageLog(o.log, "maintenance");
  const job = new Cron(o.maintenanceCron, { protect: true }, async () => {
    await pass().then(() => outage.ok(), (thrown) => outage.failed(toError(thrown)));
  });
  return () => job.stop();
}

/**
 * Every `statsIntervalMs` one `stats` log line: the outbox's pending and published rows, and per
 * stream (every type under the prefix, not only this process's) its length, groups and dead letters.
 */
export function scheduleStats(o: ResolvedOptions, relayStatus: () => RelayStatus | undefined): () => void {
  const { sql, redis, prefix, log } = o;
  const outage = outageLog(log, "stats");
  const timer = setInterval(async () => {
    try {
      const outbox = await countOutbox(sql);
      const streams = await collectStreamStats(redis, prefix, await listEventStreams(redis, prefix));
      log.info("stats", { outbox, streams, relay: relayStatus() });
      outage.ok();
    } catch (thrown) {
      outage.failed(toError(thrown));
    }
  }, o.statsIntervalMs);
  return () => clearInterval(timer);
}

function uniquePairs(pairs: Pair[]): Pair[] {
  const seen = new Map(pairs.map((p) => [`${p.handler}@${p.eventType}`, { eventType: p.eventType, handler: p.handler }]));
  return [...seen.values()];
}
