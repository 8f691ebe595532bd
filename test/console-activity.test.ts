// The console's charts: outcomes counted per minute in Redis, shared by every machine.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { ACTIVITY_TTL_MS, createActivityRecorder, quantile, readActivity, LATENCY_BOUNDS_MS } from "../src/console/activity.ts";
import { consoleKeys } from "../src/console/keys.ts";
import type { OutcomeReport } from "../src/engine/index.ts";
import { startTestApi } from "./support/api.ts";
import { createTestContext, type TestContext } from "./support/context.ts";
import { ADMIN_TOKEN, bearer } from "./support/operators.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(() => ctx.cleanup());

const MINUTE = 60_000;
const report = (handler: string, outcome: OutcomeReport["outcome"], latencyMs?: number): OutcomeReport =>
  ({ handler, eventType: "order.created", outcome, attempt: 1, ...(latencyMs === undefined ? {} : { latencyMs }) });

test("outcomes recorded by two machines add up in the same per-minute buckets in Redis, which expire after about two hours", async () => {
  let now = Date.UTC(2026, 11, 3, 9, 4, 10);
  const clock = () => now;
  const machines = [1, 2].map(() => createActivityRecorder({ redis: ctx.redis, prefix: ctx.prefix, log: ctx.log, flushMs: 3_600_000, now: clock }));
  for (const m of machines) {
    for (let i = 0; i < 10; i++) m.record(report("inventory", "processed", 20));
    m.record(report("inventory", "retry"));
    m.record(report("inventory", "dead_lettered"));
    m.record(report("inventory", "duplicate", 5)); // redelivery of work done: neither throughput nor latency
    m.record(report("inventory", "skipped"));
  }
  machines[0]!.record(report("notifications", "processed", 4_000));
  now += MINUTE; // the next minute
  machines[1]!.record(report("inventory", "processed", 700));
  await Promise.all(machines.map((m) => m.stop()));

  const minute = Math.floor(now / MINUTE);
  const key = consoleKeys.activityMinute(ctx.prefix, minute - 1);
  expect(key).toBe(`${ctx.prefix}:console:activity:${minute - 1}`);
  const ttl = await ctx.redis.pttl(key);
  expect(ttl).toBeGreaterThan(ACTIVITY_TTL_MS - 60_000);
  expect(ttl).toBeLessThanOrEqual(ACTIVITY_TTL_MS);

  const activity = await readActivity(ctx.redis, ctx.prefix, { minutes: 60, now });
  expect(Object.keys(activity.handlers)).toEqual(["inventory", "notifications"]);
  const inventory = activity.handlers.inventory!;
  expect(inventory).toHaveLength(60);
  expect(activity.to - activity.from).toBe(60 * MINUTE);
  expect(inventory[58]).toEqual({ at: (minute - 1) * MINUTE, processed: 20, failed: 4, p50Ms: expect.any(Number), p99Ms: expect.any(Number) });
  // 20 ms falls in the (10, 25] bucket.
  expect(inventory[58]!.p50Ms!).toBeGreaterThan(10);
  expect(inventory[58]!.p99Ms!).toBeLessThanOrEqual(25);
  expect(inventory[59]).toMatchObject({ processed: 1, failed: 0 });
  expect(inventory[59]!.p50Ms!).toBeGreaterThan(500);
  expect(inventory[59]!.p50Ms!).toBeLessThanOrEqual(1_000);
  expect(inventory[0]).toEqual({ at: (minute - 59) * MINUTE, processed: 0, failed: 0, p50Ms: null, p99Ms: null });
  expect(activity.handlers.notifications![58]).toMatchObject({ processed: 1 });
  expect(activity.handlers.notifications![58]!.p99Ms!).toBeGreaterThan(2_500);
});

test("counts that could not be written are kept for the next flush, and nothing is written for an idle minute", async () => {
  const now = Date.now();
  const recorder = createActivityRecorder({ redis: ctx.redis, prefix: ctx.prefix, log: ctx.log, flushMs: 3_600_000, now: () => now });
  await recorder.flush();
  expect(await ctx.redis.keys(`${ctx.prefix}:console:*`)).toEqual([]);
  recorder.record(report("payments", "processed", 30));
  // The key holds another type: HINCRBY fails, as it would with Redis refusing writes.
  const key = consoleKeys.activityMinute(ctx.prefix, Math.floor(now / MINUTE));
  await ctx.redis.set(key, "in the way");
  await recorder.flush();
  await ctx.redis.del(key);
  await recorder.stop();
  const activity = await readActivity(ctx.redis, ctx.prefix, { minutes: 2, now });
  expect(activity.handlers.payments!.reduce((n, p) => n + p.processed, 0)).toBe(1);
});

test("a quantile interpolates inside its bucket and stops at the last bound for the open top bucket", () => {
  const buckets = new Array(LATENCY_BOUNDS_MS.length + 1).fill(0);
  expect(quantile(buckets, 0.5)).toBeNull();
  buckets[0] = 100; // (0, 5]
  expect(quantile(buckets, 0.5)).toBe(3);
  buckets[LATENCY_BOUNDS_MS.length] = 100; // above the last bound
  expect(quantile(buckets, 0.99)).toBe(LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1]!);
});

test("GET /handlers/activity serves the window to admins only, with minutes 1 to 120", async () => {
  const api = await startTestApi(ctx, { engine: false, env: { ADMIN_TOKEN } });
  const recorder = createActivityRecorder({ redis: ctx.redis, prefix: ctx.prefix, log: ctx.log });
  recorder.record(report("analytics", "processed", 12));
  await recorder.stop();
  const res = await api.call("GET", "/handlers/activity?minutes=5", undefined, bearer);
  expect(res.status).toBe(200);
  expect(res.body.bucketMs).toBe(MINUTE);
  expect(res.body.handlers.analytics).toHaveLength(5);
  expect(res.body.handlers.analytics[4].processed).toBe(1);
  expect((await api.call("GET", "/handlers/activity?minutes=500", undefined, bearer)).status).toBe(400);
  expect((await api.call("GET", "/handlers/activity")).status).toBe(401);
});
