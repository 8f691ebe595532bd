import { claimConsumerName, type ConsumerIdentity } from "./delivery/consumer-identity.ts";
import { resolveSubscriptions } from "./delivery/subscribe.ts";
import { startSubscription, type RunningSubscription } from "./delivery/subscription.ts";
import { watchPauses } from "./delivery/pause-watch.ts";
import type { AnySchema } from "./db.ts";
import { runMaintenance, scheduleMaintenance, scheduleStats } from "./maintenance/jobs.ts";
import { resolveOptions, type EngineOptions } from "./options.ts";
import { advertiseCatalog, CATALOG_REFRESH_MS, withdrawCatalog } from "./outbox/catalogs.ts";
import { recordTypePriorities } from "./outbox/priorities.ts";
import { startRelay, type Relay, type RelayStatus } from "./outbox/relay-schedule.ts";
import { joinSubscription } from "./recovery/join.ts";
import { startScheduler } from "./schedules/fire.ts";
import { saveSchedule } from "./schedules/store.ts";
import { startRecoveryWatcher, type RecoveryStatus, type RecoveryWatcher } from "./recovery/watcher.ts";
import { duplicateRedis } from "./redis/client.ts";
import { toError } from "./support/errors.ts";
import { sleep } from "./support/sleep.ts";
import { makeLayout, partitionsOf, partitionsToRead } from "./partitions/layout.ts";
import { startOrderedSubscription } from "./ordering/ordered-subscription.ts";
import { SlotPool } from "./delivery/slot-pool.ts";
import type { ResolvedSubscription } from "./delivery/subscribe.ts";

export interface EngineStatus {
  /** False once stop() was called. */
  running: boolean;
  /** Null when this engine runs no relay. */
  relay: RelayStatus | null;
  consumers: {
    /** This process's consumer name in every group. */
    consumer: string;
    /** Subscriptions this engine runs (0 when it runs no consumers). */
    expected: number;
    /** Subscriptions whose read loops have started. */
    started: number;
  };
  /** Null when this engine does not watch for Redis data loss. */
  recovery: RecoveryStatus | null;
}

export interface Engine {
  relay: Relay | null;
  /** Settles once the consumers run (after the consumer name was claimed), or the engine stopped first. */
  consumersStarted: Promise<void>;
  subscriptions(): RunningSubscription[];
  /** What runs right now, for readiness and health checks; cheap, no I/O. */
  status(): EngineStatus;
  /** One maintenance pass (trim, retention, stale consumers) if no other machine is running one. */
  runMaintenance(): Promise<boolean>;
  /** Stops the relay and the reads, lets in-flight handlers finish within shutdownTimeoutMs. */
  stop(): Promise<void>;
}

/** How long start-up waits for the first check for Redis data loss before starting the relay and consumers anyway. */
const FIRST_RECOVERY_WAIT_MS = 5_000;

/** Starts the delivery engine: relay, one consumer group per subscription, recovery, maintenance and stats. */
export async function startEngine<TSchema extends AnySchema>(options: EngineOptions<TSchema>): Promise<Engine> {
  const o = resolveOptions(options);
  const { redis, log, prefix, parts } = o;
  const subs = resolveSubscriptions(o.subscriptions, o.handlerDefaults);
  const layout = makeLayout(o.partitions, subs);
  const pairs = subs.map((s) => ({ eventType: s.eventType, handler: s.handler }));
  const stopAbort = new AbortController();
  const timers: (() => void)[] = [];

  // Started (and checked once) before the relay and the consumers, so that on a fresh or emptied
  // Redis they start on recreated groups; a recovery that takes longer goes on in the background.
  const watcher: RecoveryWatcher | null = parts.recovery
    ? startRecoveryWatcher({ sql: o.sql, redis, prefix, consumer: o.consumerName, log: log.child({ component: "recovery" }), subscriptions: pairs, layout })
    : null;
  if (watcher) {
    const waited = new AbortController();
    await Promise.race([watcher.check(), sleep(FIRST_RECOVERY_WAIT_MS, waited.signal)]);
    waited.abort();
  }

  // This machine's code tells the fleet which types it knows, before its relay publishes anything.
  if (o.knownEventTypes.size > 0) {
    const advertise = () => advertiseCatalog(redis, prefix, o.consumerName, o.knownEventTypes).catch(() => {});
    await advertise();
    const timer = setInterval(advertise, CATALOG_REFRESH_MS);
    timers.push(() => {
      clearInterval(timer);
      void withdrawCatalog(redis, prefix, o.consumerName).catch(() => {});
    });
  }

  if (Object.keys(o.priorities).length > 0) await recordTypePriorities(o.sql, o.priorities);

  const relay = parts.relay
    ? startRelay({
        sql: o.sql, redis, prefix, ...o.relay, log: log.child({ component: "relay" }),
        knownEventTypes: o.knownEventTypes, onPublished: o.onPublished, layout,
      })
    : null;

  // Consumers start in the background: waiting for the consumer name (a restarted machine's old
  // claim) must not hold back the relay or the HTTP API.
  let identity: ConsumerIdentity | null = null;
  const running: RunningSubscription[] = [];
  const pauses = parts.consumers && subs.length > 0 ? watchPauses(redis, prefix, log) : undefined;
  if (pauses) timers.push(() => pauses.stop());
  const subscriptionDeps = {
    db: o.db, sql: o.sql, redis, prefix, consumer: o.consumerName,
    claimIdleMs: o.claimIdleMs, blockMs: o.readBlockMs, log, relay: relay ?? undefined, onOutcome: o.onOutcome,
    idempotencyTtlMs: o.idempotencyTtlMs,
    onGroupMissing: watcher ? (lost: { eventType: string; handler: string; partition: number }) => watcher.groupLost(lost) : undefined, layout,
    pauses,
  };
  // A subscription with priorityFirst yields to its handler's subscriptions on higher-priority types.
  const priorityOf = (eventType: string) => o.priorities[eventType] ?? 0;
  const higherBackedUp = (sub: { handler: string; eventType: string }) =>
    running.some((r) => r.handler === sub.handler && priorityOf(r.eventType) > priorityOf(sub.eventType) && r.backedUp());
  const startConsumers = async () => {
    if (!parts.consumers || subs.length === 0) return;
    identity = await claimConsumerName({
      redis, prefix, name: o.consumerName, log, signal: stopAbort.signal,
      onLost: () => o.onFatal?.("consumer name taken over by another process"),
    });
    if (!identity) return; // stopped while waiting for the name
    const counts = await retrying("could not read the partition counts; retrying", () => partitionsToRead(o.sql, layout, subs.map((s) => s.eventType)));
    // Joins one after another: each is a few PostgreSQL transactions (one read once joined). Run
    // all at once, a service's first joins (about twenty) competed for a small pool's connections
    // and the publish barrier, and a test's stop once waited on them for over 30 s.
    for (const sub of subs) {
      await retrying("could not start a consumer; retrying", () => joinSubscription({ sql: o.sql, redis, prefix, log, layout }, sub, counts?.get(sub.eventType) ?? 1), sub);
      if (stopAbort.signal.aborted) return;
    }
    // Then every subscription and partition at once: started one after another, a restarted
    // machine with many partitions took tens of seconds under load to read (and reclaim) its last
    // subscriptions, and a fleet restarted often never had them covered.
    await Promise.all(subs.map(async (sub) => {
      if (sub.ordered) await startOrdered(sub, counts?.get(sub.eventType) ?? 1);
      else await Promise.all(partitionsOf(counts?.get(sub.eventType) ?? 1).map((p) => startPartition(sub, p)));
      if (!stopAbort.signal.aborted) startedSubs++;
    }));
    if (stopAbort.signal.aborted) return;
    if (startedSubs === subs.length) {
      log.info("consumers started", { consumer: o.consumerName, subscriptions: subs.map((s) => `${s.handler}@${s.eventType}`) });
      timers.push(watchPartitionCounts());
    }
  };
  /** Retries `fn` every second until it succeeds or the engine stops (then undefined). */
  const retrying = async <T>(message: string, fn: () => Promise<T>, sub?: ResolvedSubscription): Promise<T | undefined> => {
    while (!stopAbort.signal.aborted) {
      try {
        return await fn();
      } catch (thrown) {
        log.warn(message, { ...(sub && { handler: sub.handler, eventType: sub.eventType }), err: toError(thrown) });
        await sleep(1_000, stopAbort.signal);
      }
    }
    return undefined;
  };
  let startedSubs = 0;
  /** The slots of each subscription, shared by its partitions' loops. */
  const pools = new Map<ResolvedSubscription, SlotPool>();
  const startPartition = async (sub: ResolvedSubscription, partition: number) => {
    if (running.some((r) => r.handler === sub.handler && r.eventType === sub.eventType && r.partition === partition)) return;
    let pool = pools.get(sub);
    if (!pool) pools.set(sub, (pool = new SlotPool(sub.options.concurrency)));
    const slots = pool;
    const started = await retrying("could not start a consumer; retrying", async () => {
      const blocking = duplicateRedis(redis, o.readBlockMs);
      try {
        return await startSubscription({ ...subscriptionDeps, blocking, partition, slots, higherBackedUp: () => higherBackedUp(sub) }, sub);
      } catch (thrown) {
        blocking.disconnect();
        throw thrown;
      }
    }, sub);
    if (started) running.push(started);
  };
  /** An ordered handler's partitions are shared out among the fleet's consumers by leases (ordering/). */
  const startOrdered = async (sub: ResolvedSubscription, count: number) => {
    const started = await retrying("could not start a consumer; retrying", async () => {
      const blocking = duplicateRedis(redis, o.readBlockMs);
      try {
        return await startOrderedSubscription({ ...subscriptionDeps, blocking, layout }, sub, partitionsOf(count));
      } catch (thrown) {
        blocking.disconnect();
        throw thrown;
      }
    }, sub);
    if (started) running.push(started);
  };
  /** Starts loops for partitions that appeared since (another machine publishes with a higher count). */
  const watchPartitionCounts = () => {
    let busy = false;
    const timer = setInterval(async () => {
      if (busy || stopAbort.signal.aborted) return;
      busy = true;
      try {
        const counts = await partitionsToRead(o.sql, layout, subs.map((s) => s.eventType));
        for (const sub of subs.filter((s) => !s.ordered)) {
          for (let p = 0; p < (counts.get(sub.eventType) ?? 1) && !stopAbort.signal.aborted; p++) await startPartition(sub, p);
        }
      } catch (thrown) {
        log.debug("could not refresh the partition counts", { err: toError(thrown) });
      } finally {
        busy = false;
      }
    }, o.partitionRefreshMs);
    timer.unref();
    return () => clearInterval(timer);
  };
  const consumersStarted = startConsumers();

  for (const def of o.schedules) await saveSchedule(o.sql, def, "code");
  if (parts.schedules) timers.push(startScheduler({ sql: o.sql, relay: relay ?? undefined, graceMs: o.scheduleGraceMs, log: log.child({ component: "schedules" }) }));

  const maintain = () => runMaintenance(o, pairs, stopAbort.signal);
  if (parts.maintenance) timers.push(scheduleMaintenance(o, maintain));
  if (parts.stats) timers.push(scheduleStats(o, () => relay?.status()));

  return {
    relay,
    consumersStarted,
    subscriptions: () => running,
    status: () => ({
      running: !stopAbort.signal.aborted,
      relay: relay?.status() ?? null,
      consumers: { consumer: o.consumerName, expected: parts.consumers ? subs.length : 0, started: startedSubs },
      recovery: watcher?.status() ?? null,
    }),
    runMaintenance: maintain,
    async stop() {
      const deadline = Date.now() + o.shutdownTimeoutMs;
      stopAbort.abort();
      for (const stopTimer of timers) stopTimer();
      await consumersStarted;
      await Promise.all([relay?.stop(), watcher?.stop(), ...running.map((s) => s.stop(deadline))]);
      await (identity as ConsumerIdentity | null)?.release();
    },
  };
}
