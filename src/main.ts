// The one composition root: config -> deps -> http + relay + consumers; signals.
import pkg from "../package.json" with { type: "json" };
import { ConfigError, loadConfig, type Config } from "./config.ts";
import type { Database } from "./db/client.ts";
import type Redis from "ioredis";
import { migrateDatabase } from "./db/migrate.ts";
import { connectDatabase, connectRedis, StartupError } from "./deps.ts";
import { startEngine } from "./engine.ts";
import { createSubscriptions } from "./handlers/index.ts";
import { createApp } from "./http/app.ts";
import { toError } from "./lib/errors.ts";
import { createLogger } from "./lib/logger.ts";

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

let database: Database, redis: Redis;
try {
  if (config.MIGRATE_ON_START) await migrateDatabase(config.DATABASE_URL).catch((err) => {
    throw err instanceof Error && /ECONNREFUSED|timeout|ENOTFOUND|connect/i.test(err.message)
      ? new StartupError(`cannot reach PostgreSQL to migrate (${err.message})`)
      : err;
  });
  database = await connectDatabase(config);
  redis = await connectRedis(config);
} catch (err) {
  console.error(err instanceof StartupError ? err.message : `startup failed: ${toError(err).message}`);
  process.exit(1);
}

const engine = await startEngine({
  ...database, config, redis, log, subscriptions: createSubscriptions(),
  onFatal: (reason) => void shutdown(`fatal: ${reason}`, 1),
});
const app = createApp({ sql: database.sql, redis, engine, version: pkg.version, startedAt });
const server = Bun.serve({ port: config.PORT, fetch: app.fetch });
log.info("orderstream started", { port: server.port, consumer: config.consumerName, prefix: config.STREAM_PREFIX });

let stopping = false;
async function shutdown(signal: string, code = 0) {
  if (stopping) return;
  stopping = true;
  log.info("shutting down", { signal, timeoutMs: config.SHUTDOWN_TIMEOUT_MS });
  try {
    await server.stop();
    await engine.stop();
    await redis.quit().catch(() => redis.disconnect());
    await database.sql.end({ timeout: 5 });
  } catch (err) {
    log.error("shutdown was not clean", { err: toError(err) });
  }
  log.info("stopped");
  process.exit(code);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
