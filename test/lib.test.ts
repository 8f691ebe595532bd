import { afterAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { ConfigError, loadConfig } from "../src/config.ts";
import { createRedis } from "../src/deps.ts";
import { backoffDelay } from "../src/lib/backoff.ts";
import { parseDuration } from "../src/lib/duration.ts";
import { claimIdempotencyKey, releaseIdempotencyKey } from "../src/lib/idempotency.ts";
import { acquireLock, extendLock, releaseLock, withLock } from "../src/lib/lock.ts";
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
  for (const [name, value] of [["PORT", "abc"], ["REDIS_URL", "http://x"], ["OUTBOX_RETENTION", "forever"], ["RELAY_BATCH_SIZE", "0"]] as const) {
    try {
      loadConfig({ [name]: value });
      throw new Error(`${name}=${value} was accepted`);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems.join()).toContain(name);
    }
  }
});

test("the consumer name comes from CONSUMER_NAME, else FLY_MACHINE_ID, else the host name", () => {
  expect(loadConfig({ CONSUMER_NAME: "c1", FLY_MACHINE_ID: "m1" }).consumerName).toBe("c1");
  expect(loadConfig({ FLY_MACHINE_ID: "m1" }).consumerName).toBe("m1");
  expect(loadConfig({}).consumerName).toBe(hostname());
});
