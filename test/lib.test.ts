import { afterAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { ConfigError, loadConfig } from "../src/config.ts";
import { createRedis } from "../src/engine/index.ts";
import { backoffDelay } from "../src/engine/support/backoff.ts";
import { parseDuration } from "../src/lib/duration.ts";
import { claimIdempotencyKey, releaseIdempotencyKey } from "../src/engine/support/idempotency.ts";
import { acquireLock, extendLock, releaseLock, withLock } from "../src/engine/support/lock.ts";
import { TEST_REDIS_URL } from "./support/context.ts";

const redis = createRedis(TEST_REDIS_URL);
const prefix = `t${randomBytes(5).toString("hex")}`;
afterAll(async () => {
  const found = await redis.keys(`${prefix}:*`);
  if (found.length) await redis.del(...found);
  await redis.quit();
});

test("a lock is released and extended only by its owner", async () => {
  const key = `${prefix}:lock:a`;
  const token = await acquireLock(redis, key, 5_000);
  expect(token).toBeString();
  expect(await acquireLock(redis, key, 5_000)).toBeNull();
  expect(await releaseLock(redis, key, "someone-else")).toBe(false);
  expect(await extendLock(redis, key, "someone-else", 5_000)).toBe(false);
  expect(await extendLock(redis, key, token!, 5_000)).toBe(true);
  expect(await releaseLock(redis, key, token!)).toBe(true);
  expect(await acquireLock(redis, key, 5_000)).toBeString();
});

test("a lock that expired and was taken by another stays theirs", async () => {
  const key = `${prefix}:lock:expired`;
  const first = await acquireLock(redis, key, 50);
  await Bun.sleep(80);
  const second = await acquireLock(redis, key, 5_000);
  expect(second).toBeString();
  expect(await releaseLock(redis, key, first!)).toBe(false);
  expect(await extendLock(redis, key, first!, 5_000)).toBe(false);
  expect(await redis.get(key)).toBe(second);
});

test("extendLock pushes the expiry out", async () => {
  const key = `${prefix}:lock:extend`;
  const token = await acquireLock(redis, key, 100);
  expect(await extendLock(redis, key, token!, 10_000)).toBe(true);
  expect(await redis.pttl(key)).toBeGreaterThan(5_000);
});

test("withLock keeps its lock while the work outlasts the TTL", async () => {
  const key = `${prefix}:lock:long`;
  const run = withLock(redis, key, 300, async () => {
    await Bun.sleep(800);
    return "done";
  });
  await Bun.sleep(500);
  expect(await acquireLock(redis, key, 5_000)).toBeNull();
  expect(await run).toEqual({ acquired: true, result: "done" });
  expect(await redis.exists(key)).toBe(0);
});

test("withLock runs one caller at a time and releases even when the work throws", async () => {
  const key = `${prefix}:lock:b`;
  let inside = 0;
  const work = () => withLock(redis, key, 5_000, async () => {
    inside++;
    await Bun.sleep(50);
    return inside;
  });
  const [a, b] = await Promise.all([work(), work()]);
  expect([a.acquired, b.acquired].sort()).toEqual([false, true]);
  await expect(withLock(redis, key, 5_000, async () => { throw new Error("boom"); })).rejects.toThrow("boom");
  expect(await redis.exists(key)).toBe(0);
});

test("an idempotency key is claimed once until released", async () => {
  const key = `${prefix}:idem:email-1`;
  expect(await claimIdempotencyKey(redis, key, 10_000)).toBe(true);
  expect(await claimIdempotencyKey(redis, key, 10_000)).toBe(false);
  expect(await redis.pttl(key)).toBeGreaterThan(0);
  await releaseIdempotencyKey(redis, key);
  expect(await claimIdempotencyKey(redis, key, 10_000)).toBe(true);
});

test("an idempotency key can be claimed again once its TTL has passed", async () => {
  const key = `${prefix}:idem:short`;
  expect(await claimIdempotencyKey(redis, key, 50)).toBe(true);
  expect(await claimIdempotencyKey(redis, key, 50)).toBe(false);
  await Bun.sleep(80);
  expect(await claimIdempotencyKey(redis, key, 50)).toBe(true);
});

test("backoff grows by the multiplier, stays within the jitter and is capped", () => {
  const opts = { initialMs: 1_000, multiplier: 2, maxMs: 60_000 };
  const mid = () => 0.5; // no jitter
  expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, opts, mid))).toEqual([1_000, 2_000, 4_000, 8_000, 16_000]);
  expect(backoffDelay(10, opts, mid)).toBe(60_000);
  expect(backoffDelay(1, opts, () => 0)).toBe(800);
  expect(backoffDelay(1, opts, () => 0.999_999)).toBe(1_200);
  expect(backoffDelay(20, opts, () => 0.999_999)).toBe(60_000);
});

test("durations read as milliseconds or with a unit", () => {
  expect(parseDuration("250")).toBe(250);
  expect(parseDuration("30s")).toBe(30_000);
  expect(parseDuration("7d")).toBe(604_800_000);
  expect(parseDuration("1.5h")).toBe(5_400_000);
  expect(parseDuration("soon")).toBeUndefined();
});

test("configuration defaults are the documented ones", () => {
  const c = loadConfig({});
  expect(c).toMatchObject({
    DATABASE_URL: "postgres://postgres@127.0.0.1:5432/orderstream", REDIS_URL: "redis://127.0.0.1:6379", PORT: 3000,
    STREAM_PREFIX: "orderstream", OUTBOX_MAX_RETRIES: 5, OUTBOX_INITIAL_DELAY_MS: 1_000, OUTBOX_BACKOFF_MULTIPLIER: 2,
    OUTBOX_MAX_DELAY_MS: 60_000, OUTBOX_RETENTION: 7 * 86_400_000, RELAY_BATCH_SIZE: 500, RELAY_CRON: "* * * * * *",
  });
});

test("a bad value is refused with the variable's name", () => {
  for (const [name, value] of [["PORT", "abc"], ["PORT", "70000"], ["REDIS_URL", "http://x"], ["OUTBOX_RETENTION", "forever"], ["RELAY_BATCH_SIZE", "0"],
    ["REDIS_CLUSTER_NODES", "10.0.0.1"], ["REDIS_CLUSTER_NODES", "10.0.0.1:6379,redis://10.0.0.2:6379"], ["REDIS_CLUSTER_NODES", "h:0"], ["REDIS_CLUSTER_NODES", " , "]] as const) {
    try {
      loadConfig({ [name]: value });
      throw new Error(`${name}=${value} was accepted`);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems.join()).toContain(name);
    }
  }
});

test("REDIS_CLUSTER_NODES lists host:port pairs, and is unset by default", () => {
  expect(loadConfig({}).REDIS_CLUSTER_NODES).toBeUndefined();
  expect(loadConfig({ REDIS_CLUSTER_NODES: "10.0.0.1:7000, redis-2.internal:7001,[fdaa::3]:7002" }).REDIS_CLUSTER_NODES).toEqual([
    { host: "10.0.0.1", port: 7000 }, { host: "redis-2.internal", port: 7001 }, { host: "fdaa::3", port: 7002 },
  ]);
});

test("an empty variable counts as not set", () => {
  expect(loadConfig({ PORT: "", RELAY_BATCH_SIZE: "", OUTBOX_RETENTION: "" })).toMatchObject({ PORT: 3000, RELAY_BATCH_SIZE: 500, OUTBOX_RETENTION: 7 * 86_400_000 });
  expect(loadConfig({ CONSUMER_NAME: "", FLY_MACHINE_ID: "m1" }).consumerName).toBe("m1");
});

test("the consumer name comes from CONSUMER_NAME, else FLY_MACHINE_ID, else the host name", () => {
  expect(loadConfig({ CONSUMER_NAME: "c1", FLY_MACHINE_ID: "m1" }).consumerName).toBe("c1");
  expect(loadConfig({ FLY_MACHINE_ID: "m1" }).consumerName).toBe("m1");
  expect(loadConfig({}).consumerName).toBe(hostname());
});
