import { afterEach, beforeEach, expect, test } from "bun:test";
import { z } from "zod";
import { subscribe, type HandlerContext } from "../src/engine/delivery/subscribe.ts";
import { keys } from "../src/engine/redis/keys.ts";
import { fnv1a, partitionOf } from "../src/engine/partitions/hash.ts";
import { makeLayout } from "../src/engine/partitions/layout.ts";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { recordEffect } from "./support/effects.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(() => ctx.cleanup());

const schema = z.object({ n: z.number() });
const handle = async (e: { id: string; aggregateId: string | null }, c: HandlerContext) => void (await recordEffect(c, e.id, e.aggregateId ?? ""));
const subs = (opts: { partitionKey?: "tenantId" } = {}) => [
  subscribe({ handler: "a", eventType: "job.run", schema, handle, ...opts }),
  subscribe({ handler: "b", eventType: "job.run", schema, handle, ...opts }),
];

/** Inserts `count` job.run rows by plain SQL, one aggregate per `per` rows; returns their ids. */
async function insertJobs(count: number, per = 1, tenant?: (i: number) => string): Promise<string[]> {
  const aggregates = Array.from({ length: count }, (_, i) => `agg-${Math.floor(i / per)}`);
  const tenants = Array.from({ length: count }, (_, i) => tenant?.(i) ?? null);
  const payloads = Array.from({ length: count }, (_, i) => JSON.stringify({ n: i }));
  // One statement: created_at (the transaction's start) is the same for all, so each row gets its
  // own, in order, as rows committed one after another would.
  const rows = await ctx.sql<{ id: string }[]>`
    insert into outbox (event_type, aggregate_id, tenant_id, payload, created_at)
    select 'job.run', a, t, p::jsonb, clock_timestamp()
    from unnest(${aggregates}::text[], ${tenants}::text[], ${payloads}::text[]) with ordinality as u(a, t, p, i) order by i
    returning id`;
  return rows.map((r) => r.id);
}

/** Every handler ran every event exactly once. */
async function expectEachOnce(ids: string[], handlers = ["a", "b"]) {
  const rows = await ctx.sql<{ handler: string; event_id: string; n: number }[]>`
    select handler, event_id, count(*)::int as n from effects group by handler, event_id`;
  expect(rows.filter((r) => r.n !== 1)).toEqual([]);
  for (const h of handlers) expect(new Set(rows.filter((r) => r.handler === h).map((r) => r.event_id))).toEqual(new Set(ids));
}

const effectCount = async () => Number((await ctx.sql`select count(*)::int as n from effects`)[0]!.n);
const streamLengths = async (count: number) => Promise.all(Array.from({ length: count }, (_, p) => ctx.redis.xlen(keys.stream(ctx.prefix, "job.run", p))));

test("the partition of a key is stable FNV-1a, the same in every process, and spreads keys evenly", () => {
  expect(fnv1a("")).toBe(0x811c9dc5);
  expect(fnv1a("a")).toBe(0xe40c292c);
  expect(fnv1a("foobar")).toBe(0xbf9cf968);
  const hits = Array.from({ length: 8 }, () => 0);
  for (let i = 0; i < 8_000; i++) hits[partitionOf(`order-${i}`, 8)]!++;
  for (const n of hits) expect(n).toBeGreaterThan(800);
  expect(partitionOf("anything", 1)).toBe(0);
});

test("every key of one partition shares one hash tag, and partition 0 keeps the unpartitioned names", () => {
  expect(keys.stream("os", "order.created")).toBe("os:order.created");
  expect(keys.stream("os", "order.created", 3)).toBe("os:{order.created:3}");
  expect(keys.failures("os", "mailer", "order.created", 3)).toBe("os:failures:mailer:{order.created:3}");
  expect(keys.orphans("os", "mailer", "order.created", 0)).toBe("os:orphans:mailer:{os:order.created}");
  expect(keys.deadLetterCounts("os")).toBe("os:dlq-counts{os:dlq}");
});

test("one partition key per type: two handlers naming different keys are refused", () => {
  expect(() => makeLayout({}, [
    { handler: "a", eventType: "t", partitionKey: "tenantId" },
    { handler: "b", eventType: "t", partitionKey: "aggregateId" },
  ])).toThrow(/different partition keys/);
  expect(() => makeLayout({ count: 0 }, [])).toThrow(/from 1 to 1024/);
});

test("with 4 partitions, events spread over four streams, each aggregate on one, and every handler runs each event once", async () => {
  await ctx.startEngine(subs(), { partitions: { count: 4 } });
  const ids = await insertJobs(400, 4);
  await waitFor("all effects", async () => (await effectCount()) === 800, 30_000);
  await expectEachOnce(ids);
  const lengths = await streamLengths(4);
  expect(lengths.reduce((a, b) => a + b, 0)).toBe(400);
  for (const n of lengths) expect(n).toBeGreaterThan(40);
  const rows = await ctx.sql<{ aggregate_id: string; parts: number; part: number }[]>`
    select aggregate_id, count(distinct coalesce(stream_partition, 0))::int as parts, min(coalesce(stream_partition, 0))::int as part
    from outbox group by aggregate_id`;
  for (const r of rows) {
    expect(r.parts).toBe(1);
    expect(r.part).toBe(partitionOf(r.aggregate_id, 4));
  }
});

test("a type's partition key may be its tenant: one tenant's events share a partition", async () => {
  await ctx.startEngine(subs({ partitionKey: "tenantId" }), { partitions: { byType: { "job.run": 4 } } });
  const ids = await insertJobs(60, 1, (i) => `tenant-${i % 3}`);
  await waitFor("all effects", async () => (await effectCount()) === 120);
  await expectEachOnce(ids);
  const rows = await ctx.sql<{ tenant_id: string; parts: number[] }[]>`
    select tenant_id, array_agg(distinct coalesce(stream_partition, 0)) as parts from outbox group by tenant_id`;
  for (const r of rows) expect(r.parts).toEqual([partitionOf(r.tenant_id, 4)]);
});

test("lowering the count loses nothing: consumers still read the partitions an earlier layout wrote to", async () => {
  // A relay alone publishes with 8 partitions while no consumer runs...
  const relay = await ctx.startEngine([], { partitions: { count: 8 }, parts: { consumers: false, recovery: false } });
  const before = await insertJobs(200);
  await waitFor("published", async () => (await ctx.sql`select 1 from outbox where published_at is null`).length === 0);
  await relay.stop();
  expect((await streamLengths(8)).every((n) => n > 0)).toBe(true);
  // ...then the fleet comes back with 2: its consumers read all 8, and new events go to 2.
  await ctx.startEngine(subs(), { partitions: { count: 2 } });
  const after = await insertJobs(200);
  await waitFor("all effects", async () => (await effectCount()) === 800, 30_000);
  await expectEachOnce([...before, ...after]);
  const late = await ctx.sql`select 1 from outbox where id = any(${after}::uuid[]) and coalesce(stream_partition, 0) >= 2`;
  expect(late.length).toBe(0);
});

test("raising the count on another machine: running consumers start reading the new partitions", async () => {
  // The old machine only consumes; a relay still on the old setting publishes the first events.
  await ctx.startEngine(subs(), { partitions: { count: 1 }, partitionRefreshMs: 200, consumerName: "old", parts: { relay: false } });
  const oldRelay = await ctx.startEngine([], { partitions: { count: 1 }, parts: { consumers: false, recovery: false }, consumerName: "old-relay" });
  const first = await insertJobs(50);
  await waitFor("first effects", async () => (await effectCount()) === 100);
  await oldRelay.stop();
  // A machine with the new setting publishes (its consumers are off, so only the old ones read).
  await ctx.startEngine([], { partitions: { count: 4 }, parts: { consumers: false, recovery: false }, consumerName: "new" });
  const second = await insertJobs(200);
  await waitFor("all effects", async () => (await effectCount()) === 500, 30_000);
  await expectEachOnce([...first, ...second]);
  expect((await ctx.sql`select 1 from outbox where coalesce(stream_partition, 0) > 0`).length).toBeGreaterThan(0);
});

test("the partitions of a handler share its concurrency in one process", async () => {
  let running = 0;
  let most = 0;
  await ctx.startEngine([
    subscribe({
      handler: "slow", eventType: "job.run", schema, options: { concurrency: 2, batchSize: 1 },
      handle: async (e, c) => {
        most = Math.max(most, ++running);
        await Bun.sleep(20);
        running--;
        await recordEffect(c, e.id);
      },
    }),
  ], { partitions: { count: 8 } });
  const ids = await insertJobs(80);
  await waitFor("all effects", async () => (await effectCount()) === 80, 30_000);
  await expectEachOnce(ids, ["slow"]);
  expect(most).toBe(2);
});
