import { Cron } from "croner";
import type Redis from "ioredis";
import type { Config } from "./config.ts";
import type { Database } from "./db/client.ts";
import { duplicateRedis } from "./deps.ts";
import { toError } from "./lib/errors.ts";
import { sleep } from "./lib/sleep.ts";
import { withLock } from "./lib/lock.ts";
import type { Logger } from "./lib/logger.ts";
import { outageLog } from "./lib/outage-log.ts";
import { deleteResolvedDeadLetters } from "./dlq/discard.ts";
import { countOutbox } from "./outbox/claim.ts";
import type { PublishedCounts } from "./outbox/relay.ts";
import { startRelay, type Relay, type RelayStatus } from "./outbox/schedule.ts";
import { startRecoveryWatcher, type RecoveryStatus, type RecoveryWatcher } from "./recovery/watcher.ts";
import { claimConsumerName, type ConsumerIdentity } from "./streams/consumer-identity.ts";
import { resolveSubscriptions, type Subscription } from "./streams/handler.ts";
import { eventTypeOf, keys } from "./streams/keys.ts";
import { deleteProcessedOutboxRows, listEventStreams, listGroups, removeIdleConsumers, trimStreams } from "./streams/maintenance.ts";
import type { OutcomeReport } from "./streams/process-entry.ts";
import { collectStreamStats } from "./streams/stream-stats.ts";
import { startSubscription, type RunningSubscription } from "./streams/subscription.ts";

export interface EngineDeps extends Database {
  config: Config;
  redis: Redis;
  log: Logger;
  subscriptions: Subscription[];
  /**
   * Event types the relay publishes; a row of another type becomes a `relay` dead letter
   * (`unknown_event_type`). The service passes its subscriptions' types. Absent or empty: every
   * type is published (tests and processes that run only some of the handlers).
   */
  knownEventTypes?: Iterable<string>;
  onOutcome?: (report: OutcomeReport) => void;
  /** After each committed relay batch: the rows it published per event type. */
  onPublished?: (counts: PublishedCounts) => void;
  /** Called when the consumer name was taken over by another process; the caller should exit. */
  onFatal?: (reason: string) => void;
}

export interface EngineParts {
  relay?: boolean;
  consumers?: boolean;
  maintenance?: boolean;
  stats?: boolean;
  /** Watch for Redis losing data and recover from the outbox (see recovery/watcher.ts). */
  recovery?: boolean;
}

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
  /** Stops the relay and the reads, lets in-flight handlers finish within SHUTDOWN_TIMEOUT_MS. */
  stop(): Promise<void>;
}

/** How long start-up waits for the first check for Redis data loss before starting the relay and consumers anyway. */
const FIRST_RECOVERY_WAIT_MS = 5_000;

/** Starts the delivery engine: relay, one consumer group per subscription, maintenance and stats. */
export async function startEngine(deps: EngineDeps, parts: EngineParts = {}): Promise<Engine> {
  const { config, redis, log } = deps;
  const { relay: withRelay = true, consumers = true, maintenance = true, stats = true, recovery = true } = parts;
  const prefix = config.STREAM_PREFIX;
  const subs = resolveSubscriptions(deps.subscriptions, {
    concurrency: config.CONSUMER_CONCURRENCY,
    batchSize: config.CONSUMER_BATCH_SIZE,
    maxAttempts: config.OUTBOX_MAX_RETRIES,
    timeoutMs: config.HANDLER_TIMEOUT_MS,
    backoff: { initialMs: config.OUTBOX_INITIAL_DELAY_MS, multiplier: config.OUTBOX_BACKOFF_MULTIPLIER, maxMs: config.OUTBOX_MAX_DELAY_MS },
  });
  const stopAbort = new AbortController();
  const timers: (() => void)[] = [];

  // Started (and checked once) before the relay and the consumers, so that on a fresh or emptied
  // Redis they start on recreated groups; a recovery that takes longer goes on in the background.
  const watcher: RecoveryWatcher | null = recovery
    ? startRecoveryWatcher({
        sql: deps.sql, redis, prefix, consumer: config.consumerName, log: log.child({ component: "recovery" }),
        subscriptions: subs.map((s) => ({ eventType: s.eventType, handler: s.handler })),
      })
    : null;
  if (watcher) {
    const waited = new AbortController();
    await Promise.race([watcher.check(), sleep(FIRST_RECOVERY_WAIT_MS, waited.signal)]);
    waited.abort();
  }

  const relay = withRelay
    ? startRelay({
        sql: deps.sql, redis, prefix, batchSize: config.RELAY_BATCH_SIZE, concurrency: config.RELAY_CONCURRENCY, cron: config.RELAY_CRON, log: log.child({ component: "relay" }),
        knownEventTypes: new Set(deps.knownEventTypes ?? []), onPublished: deps.onPublished,
      })
    : null;

  // Consumers start in the background: waiting for the consumer name (a restarted machine's old
  // claim) must not hold back the relay or the HTTP API.
  let identity: ConsumerIdentity | null = null;
  let running: RunningSubscription[] = [];
  const startConsumers = async () => {
    if (!consumers || subs.length === 0) return;
    identity = await claimConsumerName({
      redis, prefix, name: config.consumerName, log, signal: stopAbort.signal,
      onLost: () => deps.onFatal?.("consumer name taken over by another process"),
    });
    if (!identity) return; // stopped while waiting for the name
    for (const sub of subs) {
      while (!stopAbort.signal.aborted) {
        const blocking = duplicateRedis(redis, config.READ_BLOCK_MS);
        try {
          running.push(await startSubscription({ ...subscriptionDeps, blocking }, sub));
          break;
        } catch (thrown) {
          blocking.disconnect();
          log.warn("could not start a consumer; retrying", { handler: sub.handler, eventType: sub.eventType, err: toError(thrown) });
          await sleep(1_000, stopAbort.signal);
        }
      }
    }
    if (running.length === subs.length) {
      log.info("consumers started", { consumer: config.consumerName, subscriptions: subs.map((s) => `${s.handler}@${s.eventType}`) });
    }
  };
  const subscriptionDeps = {
    db: deps.db, sql: deps.sql, redis, prefix, consumer: config.consumerName,
    claimIdleMs: config.CLAIM_IDLE_MS, blockMs: config.READ_BLOCK_MS, log, relay: relay ?? undefined, onOutcome: deps.onOutcome,
    idempotencyTtlMs: config.IDEMPOTENCY_TTL_MS,
    onGroupMissing: watcher ? (sub: { eventType: string; handler: string }) => watcher.groupLost(sub) : undefined,
  };
  const consumersStarted = startConsumers();

  const runMaintenance = async () => {
    const result = await withLock(redis, keys.lock(prefix, "maintenance"), 60_000, async () => {
      const trimmed = await trimStreams(redis, prefix, config.OUTBOX_RETENTION);
      // The fleet's subscriptions (groups in Redis) plus this process's own, in case a group was lost.
      const fleet = uniquePairs([...(await listGroups(redis, prefix)), ...subs]);
      let deleted = 0;
      for (let n = -1; n !== 0 && !stopAbort.signal.aborted; ) {
        n = await deleteProcessedOutboxRows(deps.sql, fleet, config.OUTBOX_RETENTION);
        deleted += n;
      }
      let resolved = 0;
      for (let n = -1; n !== 0 && !stopAbort.signal.aborted; ) {
        n = await deleteResolvedDeadLetters(deps.sql, config.OUTBOX_RETENTION);
        resolved += n;
      }
      const removed = await removeIdleConsumers(redis, prefix, fleet, config.CONSUMER_STALE_MS, config.consumerName);
      if (trimmed || deleted || resolved || removed) {
        log.info("maintenance", { trimmedEntries: trimmed, deletedOutboxRows: deleted, deletedDeadLetters: resolved, removedConsumers: removed });
      }
    });
    return result.acquired;
  };
  if (maintenance) {
    const outage = outageLog(log, "maintenance");
    const job = new Cron(config.MAINTENANCE_CRON, { protect: true }, async () => {
      await runMaintenance().then(() => outage.ok(), (thrown) => outage.failed(toError(thrown)));
    });
    timers.push(() => job.stop());
  }

  if (stats) {
    const outage = outageLog(log, "stats");
    const timer = setInterval(async () => {
      try {
        const outbox = await countOutbox(deps.sql);
        // Every stream under the prefix, including types this process has no handler for.
        const eventTypes = (await listEventStreams(redis, prefix)).map((key) => eventTypeOf(prefix, key)!);
        const streams = await collectStreamStats(redis, prefix, eventTypes);
        log.info("stats", { outbox, streams, relay: relay?.status() });
        outage.ok();
      } catch (thrown) {
        outage.failed(toError(thrown));
      }
    }, config.STATS_INTERVAL_MS);
    timers.push(() => clearInterval(timer));
  }

  return {
    relay,
    consumersStarted,
    subscriptions: () => running,
    status: () => ({
      running: !stopAbort.signal.aborted,
      relay: relay?.status() ?? null,
      consumers: { consumer: config.consumerName, expected: consumers ? subs.length : 0, started: running.length },
      recovery: watcher?.status() ?? null,
    }),
    runMaintenance,
    async stop() {
      const deadline = Date.now() + config.SHUTDOWN_TIMEOUT_MS;
      stopAbort.abort();
      for (const stopTimer of timers) stopTimer();
      await consumersStarted;
      await Promise.all([relay?.stop(), watcher?.stop(), ...running.map((s) => s.stop(deadline))]);
      await (identity as ConsumerIdentity | null)?.release();
    },
  };
}

function uniquePairs(pairs: { eventType: string; handler: string }[]): { eventType: string; handler: string }[] {
  const seen = new Map(pairs.map((p) => [`${p.handler}@${p.eventType}`, { eventType: p.eventType, handler: p.handler }]));
  return [...seen.values()];
}
