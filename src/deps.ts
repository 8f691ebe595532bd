import Redis from "ioredis";
import type { Config } from "./config.ts";
import { createDatabase, type Database } from "./db/client.ts";
import { redactUrl } from "./lib/logger.ts";

export class StartupError extends Error {
  override name = "StartupError";
}

const withTimeout = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms))]);

/** Connects to PostgreSQL; a failure names DATABASE_URL (password hidden) and how to start one. */
export async function connectDatabase(config: Config): Promise<Database> {
  const database = createDatabase(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE });
  try {
    await withTimeout(database.sql`select 1`, 6_000, "connecting");
    return database;
  } catch (err) {
    await database.sql.end({ timeout: 0 }).catch(() => {});
    throw new StartupError(
      `cannot reach PostgreSQL at DATABASE_URL=${redactUrl(config.DATABASE_URL)} (${(err as Error).message}); ` +
        "start one with `docker compose up -d postgres` or set DATABASE_URL",
    );
  }
}

/** A client whose connection errors surface through the commands that fail, not as unhandled events. */
export function createRedis(url: string): Redis {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3 });
  redis.on("error", () => {});
  return redis;
}

/** A second connection with the same settings, for a command that blocks (XREADGROUP BLOCK). */
export function duplicateRedis(redis: Redis): Redis {
  const copy = redis.duplicate();
  copy.on("error", () => {});
  return copy;
}

/** Connects to Redis; a failure names REDIS_URL (password hidden) and how to start one. */
export async function connectRedis(config: Config): Promise<Redis> {
  const redis = createRedis(config.REDIS_URL);
  let cause: Error | undefined;
  redis.once("error", (err: Error) => (cause ??= err));
  try {
    await withTimeout(redis.connect().then(() => redis.ping()), 5_000, "connecting");
    return redis;
  } catch (err) {
    redis.disconnect();
    throw new StartupError(
      `cannot reach Redis at REDIS_URL=${redactUrl(config.REDIS_URL)} (${(cause ?? (err as Error)).message}); ` +
        "start one with `docker compose up -d redis` or set REDIS_URL",
    );
  }
}
