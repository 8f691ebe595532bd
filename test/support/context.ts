import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import type Redis from "ioredis";
import postgres from "postgres";
import { engineOptions, loadConfig, type Config } from "../../src/config.ts";
import { createDatabase, type Database } from "../../src/db/client.ts";
import { ensureDatabase } from "../../src/db/migrate.ts";
import { createRedis, createRedisCluster, scanAll } from "../../src/engine/index.ts";
import { startEngine, type Engine, type EngineOptions, type EngineParts } from "../../src/engine/index.ts";
import { createLogger, type Logger } from "../../src/lib/logger.ts";
import type { Subscription } from "../../src/engine/delivery/subscribe.ts";

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/orderstream_test";
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
/**
 * The suite's switch, as Watermill runs one Pub/Sub suite against every backend: set (`host:port,...`,
 * as `bun run test:cluster` does), every test's Redis, and the service processes tests start, use
 * this Redis Cluster instead of TEST_REDIS_URL.
 */
export const TEST_REDIS_CLUSTER_NODES = process.env.TEST_REDIS_CLUSTER_NODES || undefined;

/** A client of the tests' Redis (the cluster when TEST_REDIS_CLUSTER_NODES is set), not connected yet. */
export function createTestRedis(clusterNodes = TEST_REDIS_CLUSTER_NODES): Redis {
  if (!clusterNodes) return createRedis(TEST_REDIS_URL);
  return createRedisCluster(clusterNodes.split(",").map((node) => {
    const [host, port] = node.trim().split(":");
    return { host: host!, port: Number(port) };
  }));
}

/** Deletes every key matching `pattern` (on every master of a cluster). */
export async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  const found = await scanAll(redis, pattern);
  // One key per command: keys of different slots cannot share one DEL on a cluster.
  const pipeline = redis.pipeline();
  for (const key of found) pipeline.unlink(key);
  if (found.length) await pipeline.exec();
}
const MIGRATIONS = fileURLToPath(new URL("../../drizzle", import.meta.url));

let databaseReady: Promise<void> | null = null;

/** Environment a test (or a child process it starts) runs with: fast timings, its own prefix and schema. */
export function testEnv(ctx: { prefix: string; databaseUrl: string; clusterNodes?: string }, overrides: Record<string, string> = {}): Record<string, string> {
  const clusterNodes = ctx.clusterNodes ?? TEST_REDIS_CLUSTER_NODES;
  return {
    NODE_ENV: "test",
    DATABASE_URL: ctx.databaseUrl,
    REDIS_URL: TEST_REDIS_URL,
    // A test that names its own REDIS_URL (a private server for an outage) gets that one.
    ...(clusterNodes && !overrides.REDIS_URL ? { REDIS_CLUSTER_NODES: clusterNodes } : {}),
    STREAM_PREFIX: ctx.prefix,
    CONSUMER_NAME: `${ctx.prefix}-main`,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "error",
    RELAY_CRON: "* * * * * *",
    OUTBOX_INITIAL_DELAY_MS: "100",
    OUTBOX_MAX_DELAY_MS: "2000",
    CLAIM_IDLE_MS: "1500",
    READ_BLOCK_MS: "200",
    SHUTDOWN_TIMEOUT_MS: "5000",
    STATS_INTERVAL_MS: "3600000",
    MAINTENANCE_CRON: "0 0 1 1 *",
    MIGRATE_ON_START: "false",
    ...overrides,
  };
}

export interface TestContext extends Database {
  /** Random per test: the stream prefix, the consumer-name prefix and the PostgreSQL schema name. */
  prefix: string;
  /** DATABASE_URL pointing at this test's own schema (search_path), for child processes too. */
  databaseUrl: string;
  redis: Redis;
  /** The Redis Cluster this test runs on (`host:port,...`), when it runs on one. */
  clusterNodes?: string;
  log: Logger;
  config(overrides?: Record<string, string>): Config;
  /** Starts an engine on this test's schema and prefix; stopped by cleanup() if the test did not. */
  startEngine(subscriptions: Subscription[], opts?: { env?: Record<string, string>; parts?: EngineParts } & Partial<EngineOptions>): Promise<Engine>;
  /** Stops engines, deletes this test's Redis keys and drops its schema. */
  cleanup(): Promise<void>;
}

/**
 * A test's own world on the shared PostgreSQL and Redis: a fresh schema with the migrations
 * applied (plus an `effects` table for handlers to record what they did) and a random key prefix.
 * `clusterNodes` (`host:port,...`) puts it on that Redis Cluster instead of the suite's Redis.
 */
export async function createTestContext({ clusterNodes }: { clusterNodes?: string } = {}): Promise<TestContext> {
  databaseReady ??= ensureDatabase(TEST_DATABASE_URL);
  await databaseReady;
  const prefix = `t${randomBytes(5).toString("hex")}`;
  const schema = `test_${prefix}`;
  const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create schema "${schema}"`);
  await admin.end();

  const databaseUrl = `${TEST_DATABASE_URL}?search_path=${schema}`;
  const database = createDatabase(databaseUrl, { max: 10 });
  await migrate(database.db, { migrationsFolder: MIGRATIONS, migrationsSchema: schema });
  await database.sql`create table effects (handler text not null, event_id uuid not null, note text, at timestamptz not null default now())`;

  const redis = createTestRedis(clusterNodes);
  await redis.connect();
  const log = createLogger({ level: (process.env.TEST_LOG_LEVEL as "error") ?? "error", service: prefix });
  const engines: Engine[] = [];
  const ctx = { prefix, databaseUrl, clusterNodes };

  return {
    ...database,
    prefix,
    databaseUrl,
    redis,
    clusterNodes: clusterNodes ?? TEST_REDIS_CLUSTER_NODES,
    log,
    config: (overrides) => loadConfig(testEnv(ctx, overrides)),
    async startEngine(subscriptions, opts = {}) {
      const { env, parts, ...rest } = opts;
      const engine = await startEngine({ ...engineOptions(loadConfig(testEnv(ctx, env))), db: database.db, redis, log, subscriptions, parts, ...rest });
      engines.push(engine);
      return engine;
    },
    async cleanup() {
      await Promise.all(engines.map((e) => e.stop().catch(() => {})));
      await deleteKeys(redis, `${prefix}:*`);
      await redis.quit();
      await database.sql.end({ timeout: 2 });
      const dropper = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
      await dropper.unsafe(`drop schema if exists "${schema}" cascade`);
      await dropper.end();
    },
  };
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes (then throws with `what`). */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
    await Bun.sleep(everyMs);
  }
}

/** Inserts a row the way another service would: plain SQL, only the required columns. */
export async function insertOutboxRow(sql: Database["sql"], eventType: string, payload: unknown): Promise<string> {
  const [row] = await sql<{ id: string }[]>`insert into outbox (event_type, payload) values (${eventType}, ${JSON.stringify(payload)}::jsonb) returning id`;
  return row!.id;
}
