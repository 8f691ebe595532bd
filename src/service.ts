import type Redis from "ioredis";
import pkg from "../package.json" with { type: "json" };
import { ConfigError, engineOptions, loadConfig, type Config } from "./config.ts";
import type { Database } from "./db/client.ts";
import { migrateDatabase } from "./db/migrate.ts";
import { connectDatabase, connectRedis, explainDatabaseError, isDatabaseDown, retryUntilReady, StartupError, type StartupWait } from "./deps.ts";
import { createApp, createMetricsApp } from "./http/app.ts";
import { serveHttp, type HttpServers } from "./http/serve.ts";
import { createLogger } from "./lib/logger.ts";
import { createMetrics } from "./metrics/metrics.ts";
import { createActivityRecorder, type ActivityRecorder } from "./console/activity.ts";
import { startIdempotencyKeyCleanup } from "./orders/idempotency-cleanup.ts";
import type { Logger } from "./lib/logger.ts";
import { isUnavailableError, startEngine, type Engine, toError, type Subscription } from "./engine/index.ts";
import { EVENT_PRIORITIES } from "./events/catalog.ts";
import { startTracing } from "./telemetry.ts";

/** Builds the subscriptions once PostgreSQL is connected (handlers may hold the database). */
export type SubscriptionFactory = (deps: Database & { config: Config; redis: Redis; log: Logger }) => Subscription[];

/**
 * Runs the whole service in this process: configuration, migrations, PostgreSQL and Redis, the
 * delivery engine and the HTTP API, until SIGTERM or SIGINT. Bad configuration or an unreachable
 * dependency prints one line naming the variable and exits 1.
 */
export async function runService(createSubscriptions: SubscriptionFactory): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const problem of err.problems) console.error(`configuration error: ${problem}`);
    process.exit(1);
  }

  const log = createLogger({ level: config.LOG_LEVEL, service: config.SERVICE_NAME });
  const startedAt = Date.now();
  // Before anything that traces: without OTEL_EXPORTER_OTLP_ENDPOINT nothing is registered.
  const tracing = await startTracing({
    serviceName: config.SERVICE_NAME, version: pkg.version, instanceId: config.consumerName,
    endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT, log: log.child({ component: "tracing" }),
  });

  let database: Database, redis: Redis;
  try {
    // One budget for both: a fleet restarting during an outage waits this long, then exits 1.
    const wait = { deadline: Date.now() + config.startupTimeoutMs, log };
    if (config.MIGRATE_ON_START) await migrateOrExplain(config, wait);
    database = await connectDatabase(config, wait);
    redis = await connectRedis(config, wait);
  } catch (err) {
    console.error(err instanceof StartupError ? err.message : `startup failed: ${toError(err).message}`);
    process.exit(1);
  }

  // Unset until start-up finishes; a signal during start-up must still stop cleanly.
  let engine: Engine | undefined;
  let activity: ActivityRecorder | undefined;
  let http: HttpServers | undefined;
  let shopJobs: { stop(): void } | undefined;
  let stopping = false;
  const shutdown = async (signal: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down", { signal, timeoutMs: config.SHUTDOWN_TIMEOUT_MS });
    try {
      shopJobs?.stop();
      // Side by side, each bounded by SHUTDOWN_TIMEOUT_MS: one after the other could take twice that.
      await Promise.all([http?.stop(config.SHUTDOWN_TIMEOUT_MS), engine?.stop()]);
      await activity?.stop().catch(() => {});
      // After the engine and HTTP stopped: the spans of the last runs and requests go out too.
      await tracing?.shutdown().catch(() => {});
      await redis.quit().catch(() => redis.disconnect());
      // MUST NOT wait: engine.stop() already gave handlers SHUTDOWN_TIMEOUT_MS, so a transaction
      // still open is a handler past its deadline whose entry was handed over. Closing rolls it back.
      await database.sql.end({ timeout: 0 });
    } catch (err) {
      log.error("shutdown was not clean", { err: toError(err) });
    }
    log.info("stopped", { signal });
    process.exit(code);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  // A query or command whose connection went away, left with nothing awaiting it, must not take
  // the process down: what it belonged to is delivered again. Anything else unhandled is a bug,
  // logged with its stack before a shutdown with exit code 1.
  process.on("unhandledRejection", (reason) => {
    const err = toError(reason);
    if (isUnavailableError(err)) return void log.warn("a PostgreSQL or Redis call failed with nothing awaiting it", { err });
    log.error("unhandled rejection; shutting down", { err });
    void shutdown("fatal: unhandled rejection", 1);
  });

  const subscriptions = createSubscriptions({ ...database, config, redis, log });
  // One registry for the process: the engine's hooks count into it, GET /metrics renders it.
  const metrics = createMetrics({ sql: database.sql, redis, prefix: config.STREAM_PREFIX, version: pkg.version });
  // The console's charts: every machine adds its outcomes to per-minute counts in Redis.
  activity = createActivityRecorder({ redis, prefix: config.STREAM_PREFIX, log: log.child({ component: "activity" }) });
  const recorder = activity;
  engine = await startEngine({
    ...engineOptions(config), db: database.db, redis, log, subscriptions, priorities: EVENT_PRIORITIES,
    // The fleet runs this code: a type none of these subscriptions reads is a mistake to show, not to drop.
    knownEventTypes: subscriptions.map((s) => s.eventType),
    onOutcome: (report) => {
      metrics.onOutcome(report);
      recorder.record(report);
    },
    onPublished: metrics.onPublished,
    onFatal: (reason) => void shutdown(`fatal: ${reason}`, 1),
  });
  shopJobs = startIdempotencyKeyCleanup({ db: database.db, log });
  const app = createApp({ ...database, config, redis, engine, log, version: pkg.version, startedAt, metrics, tracing: tracing !== null });
  http = serveHttp({ app, metricsApp: createMetricsApp({ metrics, config, log }), config, log });
  log.info("orderstream started", {
    port: http.port, ...(http.metricsPort === undefined ? {} : { metricsPort: http.metricsPort }),
    consumer: config.consumerName, prefix: config.STREAM_PREFIX, apiAuth: config.API_AUTH, tracing: tracing ? "otlp" : "off",
  });
}

/** Migrates, waiting for PostgreSQL until `wait.deadline`; not reaching it (or a refused login) names DATABASE_URL. */
async function migrateOrExplain(config: Config, wait: StartupWait): Promise<void> {
  try {
    await retryUntilReady("PostgreSQL", () => migrateDatabase(config.DATABASE_URL), isDatabaseDown, wait);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (isDatabaseDown(err) || code === "ENOTFOUND" || code === "28P01" || code === "28000") throw explainDatabaseError(config, err);
    throw err;
  }
}
