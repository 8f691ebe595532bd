import { hostname } from "node:os";
import type Redis from "ioredis";
import type { AnySchema, EngineDb } from "./db.ts";
import type { OutcomeReport } from "./delivery/outcome.ts";
import type { HandlerOptions, Subscription } from "./delivery/subscribe.ts";
import type { PublishedCounts } from "./outbox/relay.ts";
import type { ScheduleDef } from "./schedules/define.ts";
import type { LayoutOptions } from "./partitions/layout.ts";
import { silentLogger, type Logger } from "./support/logger.ts";

/** Which parts of the engine run in this process. Each defaults to true. */
export interface EngineParts {
  /** The outbox relay. */
  relay?: boolean;
  /** One consumer group loop per subscription. */
  consumers?: boolean;
  /** Stream trimming, outbox retention and stale consumers (one machine at a time). */
  maintenance?: boolean;
  /** Firing recurring schedules (every machine; each due time fires once across the fleet). */
  schedules?: boolean;
  /** The periodic `stats` log line. */
  stats?: boolean;
  /** Watching for Redis losing data and recovering from the outbox. */
  recovery?: boolean;
}

export interface EngineOptions<TSchema extends AnySchema = AnySchema> {
  /** Your drizzle database over postgres.js. Handler transactions are opened on it; the engine's own statements use its client (`db.$client`). Required. */
  db: EngineDb<TSchema>;
  /** Redis 7 (a client from `createRedis`, whose policy the engine relies on). Required. */
  redis: Redis;
  /** What runs for each event type. Defaults to none (a relay-only process). */
  subscriptions?: readonly Subscription[];
  /** The first part of every Redis key. Defaults to "orderstream". */
  prefix?: string;
  /** This process's consumer name in every group; stable across restarts of one machine, unique among running processes. Defaults to the host name. */
  consumerName?: string;
  /** Defaults to no logging. */
  log?: Logger;
  /**
   * Event types the relay publishes; a row of another type becomes a `relay` dead letter
   * (`unknown_event_type`) unless some consumer group reads its stream. Defaults to every type.
   */
  knownEventTypes?: Iterable<string>;
  /**
   * Each event type's priority, 0 to 10 (higher first when the relay has a backlog, and for
   * handlers with `priorityFirst`). A single event may carry its own. Defaults to 0 for every type.
   */
  priorities?: Record<string, number>;
  /** Recurring schedules declared in code (`schedule()`), written at start; more come through the operators' API. */
  schedules?: readonly ScheduleDef[];
  /** A schedule's due time more than this late counts as missed (its catch-up policy decides). Defaults to 2 s. */
  scheduleGraceMs?: number;
  /** Defaults for every subscription's options (see HandlerOptions for each default). */
  handlerDefaults?: Partial<HandlerOptions>;
  relay?: {
    /** croner pattern, with seconds. Defaults to every second ("* * * * * *"). */
    cron?: string;
    /** Rows per batch; a drain keeps going while batches are full. Defaults to 500. */
    batchSize?: number;
    /** Batch loops at once in this process. Defaults to 2. */
    concurrency?: number;
    /** Share of each batch taken oldest first whatever the priority, so low priorities still move. Defaults to 0.1. */
    oldestShare?: number;
  };
  /**
   * Partitions per event type (default 1 for every type). Raising or lowering a count is safe at
   * any time: consumers read every partition a type was ever published to. See README "Partitions".
   */
  partitions?: LayoutOptions;
  /** How often consumers look for partitions another machine began publishing to (a raised count rolling out). Defaults to 10 s. */
  partitionRefreshMs?: number;
  /** An entry whose consumer died is redelivered after this long (and an ordered handler's partition moves to another machine). Defaults to 15 s. */
  claimIdleMs?: number;
  /** XREADGROUP BLOCK time. Defaults to 2 s. */
  readBlockMs?: number;
  /** Processed outbox rows and resolved dead letters are deleted after this long. Defaults to 7 days. */
  retentionMs?: number;
  /** Consumers idle this long with nothing pending leave their groups. Defaults to 1 hour. */
  consumerStaleMs?: number;
  /** Maintenance schedule (croner, with seconds). Defaults to every 30 s. */
  maintenanceCron?: string;
  /** Interval of the `stats` log line. Defaults to 30 s. */
  statsIntervalMs?: number;
  /** How long stop() lets in-flight handlers finish. Defaults to 10 s. */
  shutdownTimeoutMs?: number;
  /** TTL of `ctx.claimOnce` keys. Defaults to 24 hours. */
  idempotencyTtlMs?: number;
  /** Which parts run. Defaults to all. */
  parts?: EngineParts;
  /** Every delivery's outcome, for metrics. */
  onOutcome?: (report: OutcomeReport) => void;
  /** After each committed relay batch: the rows it published per event type. */
  onPublished?: (counts: PublishedCounts) => void;
  /** The consumer name was taken over by another process: the caller should exit. */
  onFatal?: (reason: string) => void;
}

export const HANDLER_DEFAULTS: HandlerOptions = {
  concurrency: 4,
  batchSize: 100,
  maxAttempts: 5,
  backoff: { initialMs: 1_000, multiplier: 2, maxMs: 60_000 },
  timeoutMs: 5 * 60_000,
  priorityFirst: false,
};

/** Every option with its default applied. */
export type ResolvedOptions = ReturnType<typeof resolveOptions>;

export function resolveOptions<TSchema extends AnySchema>(o: EngineOptions<TSchema>) {
  const d = o.handlerDefaults ?? {};
  return {
    db: o.db as unknown as EngineDb,
    sql: o.db.$client,
    redis: o.redis,
    subscriptions: o.subscriptions ?? [],
    prefix: o.prefix ?? "orderstream",
    consumerName: o.consumerName ?? hostname(),
    log: o.log ?? silentLogger,
    knownEventTypes: new Set(o.knownEventTypes ?? []),
    handlerDefaults: {
      ...HANDLER_DEFAULTS, ...d,
      backoff: { ...HANDLER_DEFAULTS.backoff, ...d.backoff },
    } satisfies HandlerOptions,
    relay: { cron: o.relay?.cron ?? "* * * * * *", batchSize: o.relay?.batchSize ?? 500, concurrency: o.relay?.concurrency ?? 2, oldestShare: o.relay?.oldestShare ?? 0.1 },
    priorities: o.priorities ?? {},
    partitions: o.partitions ?? {},
    partitionRefreshMs: o.partitionRefreshMs ?? 10_000,
    schedules: o.schedules ?? [],
    scheduleGraceMs: o.scheduleGraceMs ?? 2_000,
    claimIdleMs: o.claimIdleMs ?? 15_000,
    readBlockMs: o.readBlockMs ?? 2_000,
    retentionMs: o.retentionMs ?? 7 * 24 * 3_600_000,
    consumerStaleMs: o.consumerStaleMs ?? 3_600_000,
    maintenanceCron: o.maintenanceCron ?? "*/30 * * * * *",
    statsIntervalMs: o.statsIntervalMs ?? 30_000,
    shutdownTimeoutMs: o.shutdownTimeoutMs ?? 10_000,
    idempotencyTtlMs: o.idempotencyTtlMs ?? 24 * 3_600_000,
    parts: { relay: true, consumers: true, maintenance: true, stats: true, recovery: true, schedules: true, ...o.parts },
    onOutcome: o.onOutcome,
    onPublished: o.onPublished,
    onFatal: o.onFatal,
  };
}
