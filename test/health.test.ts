import { afterEach, beforeEach, expect, test } from "bun:test";
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { createDatabase } from "../src/db/client.ts";
import { createRedis } from "../src/engine/index.ts";
import { subscribe } from "../src/engine/delivery/subscribe.ts";
import { keys } from "../src/engine/redis/keys.ts";
import { startTestApi } from "./support/api.ts";
import { createTestContext, insertOutboxRow, type TestContext } from "./support/context.ts";
import { recordEffect } from "./support/effects.ts";

let ctx: TestContext;
const closers: (() => Promise<unknown> | void)[] = [];
beforeEach(async () => (ctx = await createTestContext()));
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  await ctx.cleanup();
});

const welcome = subscribe({
  handler: "welcome", eventType: "user.created", schema: z.object({ userId: z.string() }),
  handle: async (e, c) => void (await recordEffect(c, e.id)),
});
const SECRET = "s3cret-pw";

/** A dead letter as the durable record stores it; `status` open unless told. */
async function insertDeadLetter(eventType: string, handler: string, n: number, status = "open") {
  for (let i = 0; i < n; i++) {
    await ctx.sql`
      insert into dead_letters (event_type, handler, stream, entry_id, reason, error, attempts, payload, status)
      values (${eventType}, ${handler}, ${keys.stream(ctx.prefix, eventType)}, ${randomUUID()}, 'max_attempts', 'boom', 5, '{}', ${status})`;
  }
}

test("live, ready and health answer ok with a running engine", async () => {
  const api = await startTestApi(ctx, { subscriptions: [welcome] });
  await api.engine!.consumersStarted;

  expect((await api.call("GET", "/health/live")).status).toBe(200);
  const ready = await api.call("GET", "/health/ready");
  expect(ready.status).toBe(200);
  expect(ready.body).toMatchObject({ status: "ok", checks: { postgres: { ok: true }, redis: { ok: true }, engine: { ok: true } } });

  const health = await api.call("GET", "/health");
  expect(health.status).toBe(200);
  expect(health.body).toMatchObject({
    status: "ok",
    checks: {
      postgres: { ok: true },
      redis: { ok: true },
      relay: { running: true, backlog: 0, oldestUnpublishedAgeMs: null, ok: true },
      consumers: { ok: true, consumer: `${ctx.prefix}-main`, expected: 1, started: 1 },
      dlq: { size: 0, threshold: 100, ok: true },
    },
    version: "test",
  });
  expect(typeof health.body.uptimeS).toBe("number");
});

test("health is down (503) naming postgres when the app's PostgreSQL is unreachable, and ready is 503", async () => {
  const unreachable = createDatabase(`postgres://postgres:${SECRET}@127.0.0.1:1/none`, { max: 1 });
  closers.push(() => unreachable.sql.end({ timeout: 0 }));
  const api = await startTestApi(ctx, { subscriptions: [welcome], deps: unreachable });
  await api.engine!.consumersStarted;

  const health = await api.call("GET", "/health");
  expect(health.status).toBe(503);
  expect(health.body.status).toBe("down");
  expect(health.body.checks.postgres).toMatchObject({ ok: false, error: expect.stringContaining("ECONNREFUSED") });
  expect(health.body.checks.redis.ok).toBe(true);
  expect(JSON.stringify(health.body)).not.toContain(SECRET);

  const ready = await api.call("GET", "/health/ready");
  expect(ready.status).toBe(503);
  expect(ready.body.checks.postgres.ok).toBe(false);
  expect((await api.call("GET", "/health/live")).status).toBe(200);
});

test("health is down (503) naming redis when the app's Redis is unreachable, and ready is 503", async () => {
  const unreachable = createRedis(`redis://:${SECRET}@127.0.0.1:1`);
  closers.push(() => unreachable.disconnect());
  const api = await startTestApi(ctx, { subscriptions: [welcome], deps: { redis: unreachable } });
  await api.engine!.consumersStarted;

  const health = await api.call("GET", "/health");
  expect(health.status).toBe(503);
  expect(health.body.status).toBe("down");
  expect(health.body.checks.redis.ok).toBe(false);
  expect(health.body.checks.redis.error).toBeString();
  expect(health.body.checks.postgres.ok).toBe(true);
  expect(JSON.stringify(health.body)).not.toContain(SECRET);

  const ready = await api.call("GET", "/health/ready");
  expect(ready.status).toBe(503);
  expect(ready.body.checks.redis.ok).toBe(false);
  expect((await api.call("GET", "/health/queues")).status).toBe(503);
});

test("ready is 503 without an engine, and once the engine stops", async () => {
  const bare = await startTestApi(ctx, { engine: false });
  expect((await bare.call("GET", "/health/ready")).status).toBe(503);

  const api = await startTestApi(ctx, { subscriptions: [welcome] });
  await api.engine!.consumersStarted;
  expect((await api.call("GET", "/health/ready")).status).toBe(200);
  await api.engine!.stop();
  const ready = await api.call("GET", "/health/ready");
  expect(ready.status).toBe(503);
  expect(ready.body.checks.engine).toMatchObject({ ok: false, reason: expect.stringContaining("stopping") });
});

test("health is degraded (200) when open dead letters exceed DLQ_ALERT_THRESHOLD; resolved ones do not count", async () => {
  const api = await startTestApi(ctx, { subscriptions: [welcome], env: { DLQ_ALERT_THRESHOLD: "2", HEALTH_CACHE_MS: "0" } });
  await insertDeadLetter("user.created", "welcome", 2);
  await insertDeadLetter("user.created", "welcome", 3, "retried");
  expect((await api.call("GET", "/health")).body).toMatchObject({ status: "ok", checks: { dlq: { size: 2, threshold: 2, ok: true } } });

  await insertDeadLetter("order.created", "inventory", 1);
  const health = await api.call("GET", "/health");
  expect(health.status).toBe(200);
  expect(health.body).toMatchObject({ status: "degraded", checks: { dlq: { size: 3, threshold: 2, ok: false }, relay: { ok: true } } });
});

test("health is degraded when the outbox backlog passes OUTBOX_BACKLOG_ALERT while the relay does not run", async () => {
  const api = await startTestApi(ctx, { subscriptions: [], parts: { relay: false }, env: { OUTBOX_BACKLOG_ALERT: "2", HEALTH_CACHE_MS: "0" } });
  for (let i = 0; i < 2; i++) await insertOutboxRow(ctx.sql, "user.created", { userId: `u${i}` });
  expect((await api.call("GET", "/health")).body).toMatchObject({ status: "ok", checks: { relay: { backlog: 2, ok: true } } });

  await insertOutboxRow(ctx.sql, "user.created", { userId: "u3" });
  const health = await api.call("GET", "/health");
  expect(health.status).toBe(200);
  expect(health.body).toMatchObject({ status: "degraded", checks: { relay: { running: false, lastRunAt: null, backlog: 3, backlogAlert: 2, ok: false } } });
  expect(health.body.checks.relay.oldestUnpublishedAgeMs).toBeNumber();
});

test("health is degraded when the oldest unpublished row is older than OUTBOX_AGE_ALERT_MS", async () => {
  const api = await startTestApi(ctx, { engine: false, env: { OUTBOX_AGE_ALERT_MS: "1m" } });
  await ctx.sql`insert into outbox (event_type, payload, created_at) values ('user.created', '{}', now() - interval '1 hour')`;
  const health = await api.call("GET", "/health");
  expect(health.status).toBe(200);
  expect(health.body.status).toBe("degraded");
  expect(health.body.checks.relay).toMatchObject({ backlog: 1, ageAlertMs: 60_000, ok: false });
  expect(health.body.checks.relay.oldestUnpublishedAgeMs).toBeGreaterThanOrEqual(3_590_000);
});

test("/health/queues: per event type, waiting is the groups' lag, active their pending entries, failed the open dead letters", async () => {
  const api = await startTestApi(ctx, { engine: false, env: { HEALTH_CACHE_MS: "0" } });
  const stream = keys.stream(ctx.prefix, "order.created");
  for (let i = 1; i <= 5; i++) await ctx.redis.xadd(stream, `${i}-0`, "n", String(i));
  await ctx.redis.xgroup("CREATE", stream, "inventory", "0");
  await ctx.redis.xgroup("CREATE", stream, "notifications", "$"); // caught up: no lag
  await ctx.redis.xreadgroup("GROUP", "inventory", "worker-1", "COUNT", 2, "STREAMS", stream, ">");
  await insertDeadLetter("order.created", "inventory", 2);
  await insertDeadLetter("payment.failed", "payments", 1); // its stream is gone
  await insertDeadLetter("payment.failed", "payments", 4, "discarded");

  // worker-1's process is not running: work waits with no consumer to take it.
  const queues = await api.call("GET", "/health/queues");
  expect(queues.status).toBe(200);
  expect(queues.body).toEqual({
    totalQueues: 2, healthyQueues: 1, totalWaiting: 3, totalActive: 2, totalFailed: 3,
    queues: {
      "order.created": { waiting: 3, active: 2, failed: 2, healthy: false },
      "payment.failed": { waiting: 0, active: 0, failed: 1, healthy: true },
    },
  });

  // A running process holds its consumer name; a deleted unread entry leaves Redis without a lag figure.
  await ctx.redis.set(keys.consumerName(ctx.prefix, "worker-1"), "holder", "PX", 60_000);
  await ctx.redis.xdel(stream, "4-0");
  expect((await api.call("GET", "/health/queues")).body.queues["order.created"]).toEqual({ waiting: 2, active: 2, failed: 2, healthy: true });
});

test("/health/queues: a queue with more than 1000 waiting or 50 failed is unhealthy", async () => {
  const api = await startTestApi(ctx, { engine: false });
  const stream = keys.stream(ctx.prefix, "bulk.loaded");
  const add = ctx.redis.pipeline();
  for (let i = 0; i < 1_001; i++) add.xadd(stream, "*", "n", String(i));
  await add.exec();
  await ctx.redis.xgroup("CREATE", stream, "loader", "0");
  await ctx.redis.xgroup("CREATECONSUMER", stream, "loader", "w");
  await ctx.redis.set(keys.consumerName(ctx.prefix, "w"), "holder", "PX", 60_000);
  await insertDeadLetter("order.paid", "ledger", 51);
  const { body } = await api.call("GET", "/health/queues");
  expect(body.queues["bulk.loaded"]).toEqual({ waiting: 1_001, active: 0, failed: 0, healthy: false });
  expect(body.queues["order.paid"]).toEqual({ waiting: 0, active: 0, failed: 51, healthy: false });
  expect(body.healthyQueues).toBe(0);
});

/** ctx.redis, counting every command the app sends through it (pipelines count once). */
function countingRedis() {
  const counts = { calls: 0 };
  const redis = new Proxy(ctx.redis, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function" || typeof prop === "symbol" || /^(on|once|off|emit|listeners|removeListener)$/.test(prop)) return value;
      return (...args: unknown[]) => {
        counts.calls++;
        return value.apply(target, args);
      };
    },
  });
  return { redis, counts };
}

test("a flood of /health and /health/queues probes shares one read: concurrent requests are coalesced and a result is reused for HEALTH_CACHE_MS", async () => {
  const { redis, counts } = countingRedis();
  const api = await startTestApi(ctx, { engine: false, deps: { redis }, env: { HEALTH_CACHE_MS: "1000" } });
  const stream = keys.stream(ctx.prefix, "order.created");
  for (let i = 1; i <= 3; i++) await ctx.redis.xadd(stream, "*", "n", String(i));
  await ctx.redis.xgroup("CREATE", stream, "inventory", "0");

  // One request alone: what a computation costs.
  expect((await api.call("GET", "/health/queues")).status).toBe(200);
  expect((await api.call("GET", "/health")).status).toBe(200);
  const one = counts.calls;
  expect(one).toBeGreaterThan(0);

  await Bun.sleep(1_100);
  counts.calls = 0;
  const answers = await Promise.all(Array.from({ length: 500 }, (_, i) => api.call("GET", i % 2 ? "/health/queues" : "/health")));
  expect(answers.every((a) => a.status === 200)).toBe(true);
  expect(new Set(answers.filter((_, i) => i % 2).map((a) => JSON.stringify(a.body))).size).toBe(1);
  expect(counts.calls).toBeLessThanOrEqual(one);

  // Within the second, nothing is read again; after it, once more.
  counts.calls = 0;
  await api.call("GET", "/health/queues");
  await api.call("GET", "/health");
  expect(counts.calls).toBe(0);
  await Bun.sleep(1_100);
  await api.call("GET", "/health/queues");
  expect(counts.calls).toBeGreaterThan(0);
});

test("dependency errors never name hosts or ports to anonymous callers; the admin token sees the details", async () => {
  const ADMIN_TOKEN = "health-admin-token-0123456789";
  const unreachable = createDatabase(`postgres://postgres:${SECRET}@127.0.0.1:1/none`, { max: 1 });
  closers.push(() => unreachable.sql.end({ timeout: 0 }));
  const api = await startTestApi(ctx, { engine: false, deps: unreachable, env: { ADMIN_TOKEN, HEALTH_CACHE_MS: "10000" } });
  const hosty = /127\.0\.0\.1|localhost|connect /;

  for (const path of ["/health", "/health/ready", "/health/queues"]) {
    const anonymous = await api.call("GET", path);
    expect(anonymous.status).toBe(503);
    expect(JSON.stringify(anonymous.body)).not.toMatch(hosty);
    const wrong = await api.call("GET", path, undefined, { authorization: "Bearer not-the-admin-token-000" });
    expect(JSON.stringify(wrong.body)).not.toMatch(hosty);
  }
  const health = await api.call("GET", "/health");
  // A code an operator can act on (ECONNREFUSED, CONNECTION_ENDED, timeout), never the address.
  expect(health.body.checks.postgres).toEqual({ ok: false, error: expect.stringMatching(/^([A-Z0-9_]+|timeout)$/) });

  const admin = await api.call("GET", "/health", undefined, { authorization: `Bearer ${ADMIN_TOKEN}` });
  expect(admin.status).toBe(503);
  expect(admin.body.checks.postgres.error).toContain("127.0.0.1:1");
  expect(JSON.stringify(admin.body)).not.toContain(SECRET);
  const queues = await api.call("GET", "/health/queues", undefined, { authorization: `Bearer ${ADMIN_TOKEN}` });
  expect(queues.body.error.message).toContain("127.0.0.1");
});
