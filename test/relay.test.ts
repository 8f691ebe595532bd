import { afterEach, beforeEach, expect, test } from "bun:test";
import { drainOutbox, type RelayDeps } from "../src/engine/outbox/relay.ts";
import type { RelayStatus } from "../src/engine/outbox/relay-schedule.ts";
import { commitWithEvents, writeEvent } from "../src/engine/outbox/write-event.ts";
import { keys } from "../src/engine/redis/keys.ts";
import { createRedis } from "../src/engine/index.ts";
import { createTestContext, insertOutboxRow, waitFor, type TestContext } from "./support/context.ts";
import { killPrivateRedis, privateRedis } from "./support/private-redis.ts";
import { fieldsOf } from "./support/effects.ts";

// Complements outbox.test.ts (the outbox contract, rollback/commit, idempotency keys, a failing
// XADD, concurrent drainOutbox calls): here, how the relay drains, orders, shares and recovers.

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(() => ctx.cleanup());

const relayOnly = { relay: true, consumers: false, maintenance: false, stats: false };
const NEVER = "0 0 1 1 *";
const relayDeps = (batchSize: number): RelayDeps => ({ sql: ctx.sql, redis: ctx.redis, prefix: ctx.prefix, batchSize });
const insertMany = (eventType: string, n: number) => ctx.sql`
  insert into outbox (event_type, payload) select ${eventType}, jsonb_build_object('n', g) from generate_series(1, ${n}::int) g`;
const unpublished = async () => (await ctx.sql<{ n: number }[]>`select count(*)::int as n from outbox where published_at is null`)[0]!.n;
const eventIds = async (eventType: string) => (await ctx.redis.xrange(keys.stream(ctx.prefix, eventType), "-", "+")).map(([, f]) => fieldsOf(f).id!);

test("one drain keeps going while batches come back full, so a backlog goes out in one run", async () => {
  await insertMany("bulk.loaded", 1_000);
  expect(await drainOutbox(relayDeps(50))).toBe(1_000);
  expect(await unpublished()).toBe(0);
  expect(await ctx.redis.xlen(keys.stream(ctx.prefix, "bulk.loaded"))).toBe(1_000);
});

test("one drain with several loops publishes every row exactly once", async () => {
  await insertMany("bulk.loaded", 2_000);
  expect(await drainOutbox(relayDeps(100), () => false, 4)).toBe(2_000);
  expect(await unpublished()).toBe(0);
  const ids = await eventIds("bulk.loaded");
  expect(ids).toHaveLength(2_000);
  expect(new Set(ids).size).toBe(2_000);
});

test("a relay publishes a type's events oldest first, across batches", async () => {
  // Inserted newest first: the stream must follow created_at, not insertion order.
  const ids: string[] = [];
  for (let age = 1; age <= 12; age++) {
    const [row] = await ctx.sql<{ id: string }[]>`
      insert into outbox (event_type, payload, created_at) values ('order.updated', '{}', now() - ${age} * interval '1 second') returning id`;
    ids.unshift(row!.id);
  }
  expect(await drainOutbox(relayDeps(5))).toBe(12);
  expect(await eventIds("order.updated")).toEqual(ids);
});

test("two relay-only engines starting on a 5,000-row backlog share it and publish each row exactly once", async () => {
  await insertMany("bulk.loaded", 5_000);
  // The schedule never fires: each engine's run at start is all that publishes.
  const env = { RELAY_CRON: NEVER, RELAY_BATCH_SIZE: "100" };
  const [a, b] = await Promise.all([ctx.startEngine([], { env, parts: relayOnly }), ctx.startEngine([], { env, parts: relayOnly })]);
  const idle = (s: RelayStatus) => s.lastRunAt !== null && !s.running;
  await waitFor("both start-up runs", () => idle(a.relay!.status()) && idle(b.relay!.status()));
  const [sa, sb] = [a.relay!.status(), b.relay!.status()];
  expect([sa.lastError, sb.lastError]).toEqual([null, null]);
  expect(sa.published + sb.published).toBe(5_000);
  // Both really ran at once; otherwise this test would prove nothing about sharing.
  expect(Math.min(sa.published, sb.published)).toBeGreaterThan(0);
  expect(await unpublished()).toBe(0);
  const ids = await eventIds("bulk.loaded");
  expect(ids.length).toBe(5_000);
  expect(new Set(ids).size).toBe(5_000);
});

test("a row whose stream key holds another type is set aside, and neither holds back nor re-publishes the rows of its batch", async () => {
  await ctx.redis.set(keys.stream(ctx.prefix, "bad.type"), "not a stream");
  const bad = await insertOutboxRow(ctx.sql, "bad.type", { n: 0 }); // oldest: first in the batch
  await insertMany("good.type", 5);
  for (let run = 0; run < 3; run++) await drainOutbox(relayDeps(10));
  expect(await unpublished()).toBe(0);
  expect(await ctx.redis.xlen(keys.stream(ctx.prefix, "good.type"))).toBe(5);
  const letters = await ctx.sql<{ event_id: string; handler: string; reason: string; error: string }[]>`select event_id, handler, reason, error from dead_letters`;
  expect([...letters]).toEqual([{ event_id: bad, handler: "relay", reason: "unpublishable", error: expect.stringContaining("WRONGTYPE") }]);
});

test("a scheduled relay reports a failing run while Redis is down and recovers on its own once it is back", async () => {
  const server = await privateRedis();
  const redis = createRedis(server.url);
  try {
    await insertOutboxRow(ctx.sql, "user.created", { n: 1 });
    const engine = await ctx.startEngine([], { redis, parts: { ...relayOnly, recovery: false } }); // every second
    await waitFor("failed run", () => engine.relay!.status().lastError !== null);
    expect(await unpublished()).toBe(1);
    await server.start();
    await waitFor("recovered run", async () => (await unpublished()) === 0 && engine.relay!.status().lastError === null);
    expect(await redis.xlen(keys.stream(ctx.prefix, "user.created"))).toBe(1);
    await engine.stop();
  } finally {
    redis.disconnect();
    await killPrivateRedis();
  }
});

test("commitWithEvents wakes the relay for an event written in a nested transaction (savepoint)", async () => {
  const engine = await ctx.startEngine([], { env: { RELAY_CRON: NEVER }, parts: relayOnly });
  await waitFor("initial relay run", () => engine.relay!.status().lastRunAt !== null);
  const written = await commitWithEvents(ctx.db, engine.relay!, (tx) =>
    tx.transaction((savepoint) => writeEvent(savepoint, { eventType: "user.created", payload: { userId: "nested" } })),
  );
  await waitFor("woken relay", async () => (await eventIds("user.created")).includes(written.id));
});

test("stop() waits for the drain in progress: every entry it added is marked, and nothing is published after", async () => {
  await insertMany("bulk.loaded", 3_000);
  const engine = await ctx.startEngine([], { env: { RELAY_CRON: NEVER, RELAY_BATCH_SIZE: "50" }, parts: relayOnly });
  await waitFor("drain under way", async () => (await ctx.redis.xlen(keys.stream(ctx.prefix, "bulk.loaded"))) > 0, 15_000, 5);
  await engine.stop();
  const [marked] = await ctx.sql<{ n: number }[]>`select count(*)::int as n from outbox where published_at is not null`;
  expect(await ctx.redis.xlen(keys.stream(ctx.prefix, "bulk.loaded"))).toBe(marked!.n);
  expect(marked!.n).toBeLessThan(3_000);
  engine.relay!.wake();
  await Bun.sleep(200);
  expect(await ctx.redis.xlen(keys.stream(ctx.prefix, "bulk.loaded"))).toBe(marked!.n);
});

test("a row whose event type would land on a service key (the dead-letter stream) is set aside, not published there", async () => {
  await ctx.sql`insert into outbox (event_type, payload) values ('dlq', '{}'), ('lock:maintenance', '{}'), ('user.created', '{}')`;
  expect(await drainOutbox(relayDeps(10))).toBe(3);
  expect(await ctx.redis.exists(keys.lock(ctx.prefix, "maintenance"))).toBe(0);
  // The dead-letter stream holds only the two dead letters' copies, no event.
  const copies = (await ctx.redis.xrange(keys.deadLetters(ctx.prefix), "-", "+")).map(([, f]) => fieldsOf(f));
  expect(copies.map((c) => [c.handler, c.reason, c.eventType]).sort()).toEqual([["relay", "unpublishable", "dlq"], ["relay", "unpublishable", "lock:maintenance"]]);
  expect((await eventIds("user.created")).length).toBe(1);
  expect(await unpublished()).toBe(0);
});
