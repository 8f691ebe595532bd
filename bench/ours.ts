// Our side: the delivery engine as shipped (relay, Redis Streams, one consumer group), with one
// bench subscription and the service's defaults; only LOG_LEVEL is raised to warn.
import { z } from "zod";
import { engineOptions, loadConfig, type Config } from "../src/config.ts";
import { startEngine, type Engine, type EngineParts } from "../src/engine/index.ts";
import { createLogger } from "../src/lib/logger.ts";
import type { PublishedCounts } from "../src/engine/outbox/relay.ts";
import { subscribe, type HandlerContext } from "../src/engine/delivery/subscribe.ts";
import type { StreamEvent } from "../src/engine/redis/entry.ts";
import { cappedWrite } from "./support/log-once.ts";
import { deferCleanup } from "./support/cleanup.ts";
import { HANDLER } from "./support/workload.ts";
import { REDIS_URL, type World } from "./support/world.ts";

export interface OursOptions {
  eventType: string;
  /** The handler body; `row` comes from the payload. */
  handle?: (event: StreamEvent<{ row: number }>, ctx: HandlerContext) => Promise<void>;
  /** Each event whose handler committed. */
  onProcessed?: () => void;
  /** A retry, dead letter or engine failure: the benchmark counts it as this side erroring. */
  onProblem?: (err: Error) => void;
  onPublished?: (counts: PublishedCounts) => void;
  parts?: EngineParts;
  /** Configuration overrides (`--set KEY=VALUE`), on top of the shipped defaults. */
  env?: Record<string, string>;
}

export interface Ours {
  engine: Engine;
  config: Config;
  stop(): Promise<void>;
}

const payload = z.object({ row: z.number().int() });

/** Our configuration: the shipped defaults, LOG_LEVEL warn, then `overrides`. */
export function ourConfig(overrides: Record<string, string> = {}, world?: World): Config {
  return loadConfig({
    REDIS_URL,
    LOG_LEVEL: "warn",
    ...(world ? { DATABASE_URL: world.url, STREAM_PREFIX: world.prefix, CONSUMER_NAME: `${world.prefix}-consumer` } : {}),
    ...overrides,
  });
}

// Settings that shape throughput; listed only when this version of the engine has them.
const TUNING = ["RELAY_BATCH_SIZE", "CONSUMER_CONCURRENCY", "CONSUMER_BATCH_SIZE", "DATABASE_POOL_SIZE", "READ_BLOCK_MS"];

/** `KEY value, ...` of the throughput settings ours runs with, for the report. */
export function describeOurs(config: Config): string {
  const values = config as unknown as Record<string, unknown>;
  return TUNING.filter((k) => values[k] !== undefined).map((k) => `${k} ${values[k]}`).join(", ");
}

/** PostgreSQL connections: our DATABASE_POOL_SIZE where the engine has one, else the service's fixed 10. */
export function poolSizeOf(config: Config): number {
  return Number((config as unknown as Record<string, unknown>).DATABASE_POOL_SIZE ?? 10);
}

/** Starts the engine on the world's database and prefix; resolves once its consumers run. */
export async function startOurs(world: World, opts: OursOptions): Promise<Ours> {
  const config = ourConfig(opts.env, world);
  const log = createLogger({ level: config.LOG_LEVEL, service: "bench", write: cappedWrite() });
  const subscription = subscribe({
    handler: HANDLER,
    eventType: opts.eventType,
    schema: payload,
    handle: async (event, ctx) => {
      await opts.handle?.(event, ctx);
    },
  });
  const engine = await startEngine({
    ...engineOptions(config), db: world.db, redis: world.redis, log, subscriptions: [subscription], parts: opts.parts,
    onPublished: opts.onPublished,
    onOutcome: (report) => {
      if (report.outcome === "processed") opts.onProcessed?.();
      else if (report.outcome !== "duplicate") opts.onProblem?.(new Error(`ours: an entry ended as ${report.outcome}${report.reason ? ` (${report.reason})` : ""}`));
    },
    onFatal: (reason) => opts.onProblem?.(new Error(`ours: ${reason}`)),
  });
  const stop = deferCleanup(`engine on ${world.name}`, () => engine.stop());
  await engine.consumersStarted;
  return { engine, config, stop };
}
