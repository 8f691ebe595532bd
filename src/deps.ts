import type Redis from "ioredis";
import type { Config } from "./config.ts";
import { createDatabase, type Database } from "./db/client.ts";
import type { Logger } from "./lib/logger.ts";
import { redactUrl } from "./lib/logger.ts";
import { createRedis, createRedisCluster, isUnavailableError } from "./engine/index.ts";

export class StartupError extends Error {
  override name = "StartupError";
}

const withTimeout = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms))]);

/** Until when start-up keeps trying a dependency that does not answer yet, and where it says so. */
export interface StartupWait {
  /** Epoch ms; at least one attempt is made even when it has passed. */
  deadline: number;
  log?: Logger;
}

/**
 * Runs `attempt` until it works, retrying while `retryable(err)` and the deadline has not passed,
 * with one log line when waiting starts. A fleet restarting during an outage waits for its
 * dependency instead of crash-looping; a bad setting (wrong password) still fails at once.
 */
export async function retryUntilReady<T>(what: string, attempt: () => Promise<T>, retryable: (err: unknown) => boolean, { deadline, log }: StartupWait): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (err) {
      const left = deadline - Date.now();
      if (!retryable(err) || left <= 0) throw err;
      if (tries === 1) log?.warn(`${what} does not answer yet; waiting for it`, { waitMs: left, err: err as Error });
      await Bun.sleep(Math.min(1_000, left));
    }
  }
}

const databaseError = (config: Config, err: unknown) =>
  new StartupError(
    `cannot reach PostgreSQL at DATABASE_URL=${redactUrl(config.DATABASE_URL)} (${(err as Error).message}); ` +
      "start one with `docker compose up -d postgres` or set DATABASE_URL",
  );

/** Errors that say PostgreSQL is not there (yet), as opposed to refusing this configuration. */
export const isDatabaseDown = (err: unknown) => isUnavailableError(err) || (err instanceof Error && err.message.startsWith("connecting timed out"));

/**
 * Connects to PostgreSQL, waiting for it until `wait.deadline`; a failure names DATABASE_URL
 * (password hidden) and how to start one.
 */
export async function connectDatabase(config: Config, wait: StartupWait = { deadline: 0 }): Promise<Database> {
  try {
    return await retryUntilReady("PostgreSQL", async () => {
      const database = createDatabase(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE });
      try {
        await withTimeout(database.sql`select 1`, 6_000, "connecting");
        return database;
      } catch (err) {
        await database.sql.end({ timeout: 0 }).catch(() => {});
        throw err;
      }
    }, isDatabaseDown, wait);
  } catch (err) {
    throw databaseError(config, err);
  }
}

/** Like connectDatabase's failure: the StartupError naming DATABASE_URL for `err`. */
export function explainDatabaseError(config: Config, err: unknown): StartupError {
  return databaseError(config, err);
}

/** The configured Redis, not connected yet: the cluster of REDIS_CLUSTER_NODES when set, else REDIS_URL. */
export function createConfiguredRedis(config: Config): Redis {
  if (!config.REDIS_CLUSTER_NODES) return createRedis(config.REDIS_URL);
  return createRedisCluster(config.REDIS_CLUSTER_NODES, undefined, { password: config.REDIS_CLUSTER_PASSWORD, tls: config.REDIS_CLUSTER_TLS });
}

/** The setting that names the Redis in use, for messages (password hidden). */
export function redisSetting(config: Config): string {
  return config.REDIS_CLUSTER_NODES
    ? `REDIS_CLUSTER_NODES=${config.REDIS_CLUSTER_NODES.map((n) => `${n.host}:${n.port}`).join(",")}`
    : `REDIS_URL=${redactUrl(config.REDIS_URL)}`;
}

/**
 * Connects to Redis (or the Redis Cluster), waiting for it until `wait.deadline`; a failure names
 * REDIS_URL (password hidden) or REDIS_CLUSTER_NODES and how to start one. A refused password
 * fails at once.
 */
export async function connectRedis(config: Config, wait: StartupWait = { deadline: 0 }): Promise<Redis> {
  try {
    return await retryUntilReady("Redis", async () => {
      const redis = createConfiguredRedis(config);
      let cause: Error | undefined;
      redis.once("error", (err: Error) => (cause ??= err));
      try {
        await withTimeout(redis.connect().then(() => redis.ping()), 5_000, "connecting");
        return redis;
      } catch (err) {
        redis.disconnect();
        throw cause ?? err;
      }
    }, (err) => !(err instanceof Error && /NOAUTH|WRONGPASS|ERR AUTH/.test(err.message)), wait);
  } catch (err) {
    const fix = config.REDIS_CLUSTER_NODES ? "start one (README \"Redis Cluster\") or set REDIS_CLUSTER_NODES" : "start one with `docker compose up -d redis` or set REDIS_URL";
    throw new StartupError(`cannot reach Redis at ${redisSetting(config)} (${(err as Error).message}); ${fix}`);
  }
}
