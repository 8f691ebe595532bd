// A run's own world on the shared PostgreSQL and Redis: a fresh database with the migrations
// applied and a random key prefix, both removed again by dispose() or by the cleanup stack.
import { randomBytes } from "node:crypto";
import type Redis from "ioredis";
import postgres from "postgres";
import { loadConfig } from "../../src/config.ts";
import { createDatabase, type Database } from "../../src/db/client.ts";
import { migrateDatabase } from "../../src/db/migrate.ts";
import { createRedis, scanAll } from "../../src/engine/index.ts";
import { deferCleanup, throwIfInterrupted } from "./cleanup.ts";

// DATABASE_URL and REDIS_URL as the service reads them; the bench swaps in its own database name.
const base = loadConfig();
export const REDIS_URL = base.REDIS_URL;

export interface World extends Database {
  /** Database name; also the label in errors. */
  name: string;
  url: string;
  /** Random per world: every Redis key either side writes starts with `<prefix>:`. */
  prefix: string;
  redis: Redis;
  dispose(): Promise<void>;
}

/** The URL of database `name` on the configured server. */
export function databaseUrl(name: string): string {
  const url = new URL(base.DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export interface WorldOptions {
  /** PostgreSQL connections, the same for both sides. */
  poolSize: number;
  /** The Redis this world's side runs on, not connected yet; defaults to REDIS_URL. */
  redis?: () => Redis;
}

/**
 * Creates and migrates `bench_<label>_<random>` (about 150 ms), a pool of `poolSize` connections
 * and a key prefix; registered for cleanup.
 */
export async function createWorld(label: string, { poolSize, redis: connect }: WorldOptions): Promise<World> {
  throwIfInterrupted();
  const id = randomBytes(4).toString("hex");
  const name = `bench_${label.replaceAll("-", "_")}_${id}`;
  const prefix = `bench-${label}-${id}`;
  const url = databaseUrl(name);
  const dropDatabase = deferCleanup(`database ${name}`, () => dropBenchDatabase(name));
  await migrateDatabase(url);
  throwIfInterrupted(); // the drop registered above still runs
  const database = createDatabase(url, { max: poolSize });
  const redis = connect ? connect() : createRedis(REDIS_URL);
  await redis.connect();
  const closeClients = deferCleanup(`clients of ${name}`, async () => {
    await deleteKeys(redis, prefix);
    await redis.quit().catch(() => redis.disconnect());
    await database.sql.end({ timeout: 1 });
  });
  return {
    ...database, name, url, prefix, redis,
    async dispose() {
      await closeClients();
      await dropDatabase();
    },
  };
}

/** Deletes every key under `<prefix>:` (on every master of a cluster). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  const found = await scanAll(redis, `${prefix}:*`, { count: 1000 });
  // One key per command: keys of different slots cannot share one UNLINK on a cluster.
  for (let i = 0; i < found.length; i += 1000) {
    const pipeline = redis.pipeline();
    for (const key of found.slice(i, i + 1000)) pipeline.unlink(key);
    await pipeline.exec();
  }
}

async function dropBenchDatabase(name: string): Promise<void> {
  const admin = postgres(databaseUrl("postgres"), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
  } finally {
    await admin.end({ timeout: 1 });
  }
}
