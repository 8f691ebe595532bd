// Delayed events wait in PostgreSQL and are published on time; under a backlog the relay
// publishes higher priorities first without starving the rest; a handler may read its
// higher-priority types first.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { z } from "zod";
import { commitWithEvents, subscribe, writeEvent } from "../src/engine/index.ts";
import { keys } from "../src/engine/redis/keys.ts";
import { createTestContext, insertOutboxRow, waitFor, type TestContext } from "./support/context.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(() => ctx.cleanup());

const job = z.object({ n: z.number() });
const NEVER = "0 0 1 1 *";

test("a delayed event is handled no earlier than it is due and within a second after, through a relay restart", async () => {
  const handledAt: number[] = [];
  const sub = subscribe({ handler: "h", eventType: "job.run", schema: job, handle: async () => void handledAt.push(Date.now()) });
  const first = await ctx.startEngine([sub]);
  await first.consumersStarted;
  const due = new Date(Date.now() + 2_500);
  await commitWithEvents(ctx.db, first.relay ?? undefined, (tx) => writeEvent(tx, { eventType: "job.run", payload: { n: 1 }, availableAt: due }));
  await Bun.sleep(600);
  await first.stop(); // the relay that knew when to wake is gone
  expect(handledAt).toEqual([]);
  // The new relay ticks rarely: it must wake at the due time by itself.
  await ctx.startEngine([sub], { env: { RELAY_CRON: NEVER } });
  await waitFor("the delayed event", () => handledAt.length === 1, 6_000);
  expect(handledAt[0]!).toBeGreaterThanOrEqual(due.getTime());
  expect(handledAt[0]! - due.getTime()).toBeLessThan(1_000);
});

test("a past availableAt is published at once; delayed events go out in due order", async () => {
  const order: number[] = [];
  const sub = subscribe({ handler: "h", eventType: "job.run", schema: job, options: { batchSize: 1, concurrency: 1 }, handle: async (e) => void order.push(e.payload.n) });
  const engine = await ctx.startEngine([sub]);
  await engine.consumersStarted;
  const now = Date.now();
  await commitWithEvents(ctx.db, engine.relay ?? undefined, async (tx) => {
    await writeEvent(tx, { eventType: "job.run", payload: { n: 3 }, availableAt: new Date(now + 1_500) });
    await writeEvent(tx, { eventType: "job.run", payload: { n: 2 }, availableAt: new Date(now + 1_000) });
    await writeEvent(tx, { eventType: "job.run", payload: { n: 1 }, availableAt: new Date(now - 60_000) });
  });
  await waitFor("the past one at once", () => order.length >= 1, 500);
  await waitFor("all three", () => order.length === 3, 4_000);
  expect(order).toEqual([1, 2, 3]);
});

test("under a backlog a high-priority event is published ahead of 10,000 older low-priority ones, and low-priority events still move", async () => {
  await ctx.sql`insert into outbox (event_type, payload) select 'job.run', jsonb_build_object('n', g) from generate_series(1, 10000) g`;
  const urgent = await insertOutboxRow(ctx.sql, "job.run", { n: -1 });
  await ctx.sql`update outbox set priority = 10 where id = ${urgent}`;
  // And a steady stream of high-priority events, newer than every low one.
  await ctx.sql`insert into outbox (event_type, payload, priority) select 'job.run', jsonb_build_object('n', -g), 9 from generate_series(2, 2000) g`;
  await ctx.startEngine([], { env: { RELAY_BATCH_SIZE: "500", RELAY_CONCURRENCY: "1" }, parts: { consumers: false, maintenance: false, stats: false } });
  await waitFor("everything published", async () => (await ctx.sql`select 1 from outbox where published_at is null limit 1`).length === 0, 30_000);
  const entries = await ctx.redis.xrange(keys.stream(ctx.prefix, "job.run"), "-", "+", "COUNT", 500);
  const ns = entries.map(([, f]) => JSON.parse(f[f.indexOf("payload") + 1]!).n as number);
  expect(ns[0]).toBe(-1); // the urgent one first
  const lowInFirstBatch = ns.filter((n) => n > 0).length;
  expect(lowInFirstBatch).toBeGreaterThanOrEqual(50); // 10 % of every batch is the oldest, whatever its priority
  expect(lowInFirstBatch).toBeLessThan(500);
});

test("a handler with priorityFirst reads its higher-priority type first while that one is backed up", async () => {
  const order: string[] = [];
  const handle = async (e: { type: string }) => {
    order.push(e.type);
    await Bun.sleep(2);
  };
  const opts = { batchSize: 20, concurrency: 1, priorityFirst: true };
  await ctx.sql`insert into outbox (event_type, payload) select 'job.later', jsonb_build_object('n', g) from generate_series(1, 300) g`;
  await ctx.sql`insert into outbox (event_type, payload) select 'job.urgent', jsonb_build_object('n', g) from generate_series(1, 300) g`;
  await ctx.startEngine([
    subscribe({ handler: "worker", eventType: "job.later", schema: job, options: opts, handle }),
    subscribe({ handler: "worker", eventType: "job.urgent", schema: job, options: opts, handle }),
  ], { priorities: { "job.urgent": 10, "job.later": 1 } });
  await waitFor("all run", () => order.length === 600, 30_000);
  const lastUrgent = order.lastIndexOf("job.urgent");
  const laterBefore = order.slice(0, lastUrgent).filter((t) => t === "job.later").length;
  expect(laterBefore).toBeLessThan(100); // at most the batches already read when the urgent backlog showed up
});
