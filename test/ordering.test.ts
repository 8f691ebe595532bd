import { afterEach, beforeEach, expect, test } from "bun:test";
import type { Engine } from "../src/engine/index.ts";
import { deleteDeadLetter, retryDeadLetter } from "../src/engine/index.ts";
import { resolveSubscriptions } from "../src/engine/delivery/subscribe.ts";
import { HANDLER_DEFAULTS } from "../src/engine/options.ts";
import { ownerOf } from "../src/engine/ordering/assign.ts";
import { checkFence, FencedError, raiseFence } from "../src/engine/ordering/fence.ts";
import { runEntry } from "../src/engine/ordering/run-entry.ts";
import { makeLayout } from "../src/engine/partitions/layout.ts";
import { publishRows } from "../src/engine/outbox/publish.ts";
import { ensureGroup } from "../src/engine/delivery/groups.ts";
import { keys } from "../src/engine/redis/keys.ts";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { countRuns, createSequenceTable, range, runOrder, sequenceHandler, writeSteps } from "./support/ordered.ts";

let ctx: TestContext;
beforeEach(async () => {
  ctx = await createTestContext();
  await createSequenceTable(ctx.sql);
});
afterEach(() => ctx.cleanup());

const PARTITIONS = { STREAM_PARTITIONS: "4" };
const admin = () => ({ sql: ctx.sql, redis: ctx.redis, prefix: ctx.prefix, log: ctx.log });

/** Engines named a, b, c, ... each running the ordered handler (and a relay). */
async function engines(names: string[], opts: Parameters<typeof sequenceHandler>[0] = {}): Promise<Engine[]> {
  return Promise.all(names.map(async (name) => {
    const engine = await ctx.startEngine([sequenceHandler({ ...opts, consumer: name })], { env: PARTITIONS, consumerName: `${ctx.prefix}-${name}` });
    await engine.consumersStarted;
    return engine;
  }));
}

async function leaseHolders(partitions = 4): Promise<(string | null)[]> {
  return Promise.all(range(0, partitions - 1).map(async (p) => (await ctx.redis.get(keys.lease(ctx.prefix, "seq", "step.done", p)))?.split("|")[0] ?? null));
}

const waitRuns = (n: number, timeoutMs = 30_000) => waitFor(`${n} runs`, async () => (await countRuns(ctx.sql)) >= n, timeoutMs);
const deadLetterOf = async (eventId: string) =>
  waitFor(`the dead letter of ${eventId}`, async () => (await ctx.sql<{ id: string }[]>`select id from dead_letters where event_id = ${eventId} and status = 'open'`)[0]?.id);
const waitParked = (aggregate: string) =>
  waitFor(`${aggregate} parked`, async () => (await ctx.sql`select 1 from parked_keys where partition_key = ${aggregate}`).length > 0);

test("three consumers on four partitions run each aggregate's events one at a time, in the order they were written, once each", async () => {
  const failOnce = new Set(["agg-1:2", "agg-4:5", "agg-7:1"]);
  await engines(["a", "b", "c"], { failOnce, sleepMs: () => Math.floor(Math.random() * 4) });
  await waitFor("every partition owned", async () => (await leaseHolders()).every((h) => h !== null));
  const aggregates = range(0, 11).map((i) => `agg-${i}`);
  await writeSteps(ctx, aggregates, 1, 8);
  await waitRuns(aggregates.length * 8);
  const order = await runOrder(ctx.sql);
  for (const a of aggregates) expect({ a, steps: order.get(a) }).toEqual({ a, steps: range(1, 8) });
  expect(failOnce.size).toBe(0);
  // The partitions are shared out as rendezvous hashing assigns them over the three live consumers
  // (a consumer that joined late gets its share at the next renewal). Not "more than one holder":
  // with four partitions, one consumer winning all of them is a fair outcome 1 time in 27.
  const names = ["a", "b", "c"].map((n) => `${ctx.prefix}-${n}`);
  const shares = range(0, 3).map((p) => ownerOf(p, names));
  await waitFor("partitions shared out", async () => (await leaseHolders()).every((h, p) => h === shares[p]));
});

test("a consumer that stops hands its partitions to the others, which go on in order", async () => {
  const [a, b] = await engines(["a", "b", "c"], { sleepMs: () => Math.floor(Math.random() * 3) });
  await waitFor("every partition owned", async () => (await leaseHolders()).every((h) => h !== null));
  const aggregates = range(0, 9).map((i) => `agg-${i}`);
  await writeSteps(ctx, aggregates, 1, 5);
  await a!.stop();
  await writeSteps(ctx, aggregates, 6, 10);
  await waitFor("partitions handed over", async () => (await leaseHolders()).every((h) => h !== null && h !== `${ctx.prefix}-a`));
  await waitRuns(aggregates.length * 10);
  const order = await runOrder(ctx.sql);
  for (const agg of aggregates) expect({ agg, steps: order.get(agg) }).toEqual({ agg, steps: range(1, 10) });
  await b!.stop();
  await writeSteps(ctx, aggregates, 11, 12);
  await waitRuns(aggregates.length * 12);
  expect((await leaseHolders()).every((h) => h === `${ctx.prefix}-c`)).toBe(true);
  const after = await runOrder(ctx.sql);
  for (const agg of aggregates) expect({ agg, steps: after.get(agg) }).toEqual({ agg, steps: range(1, 12) });
});

test("a parked key holds only its own later events; retrying its dead letter runs them in order, once each", async () => {
  const failing = new Set(["A:2"]);
  await engines(["a", "b"], { failing });
  const ids = await writeSteps(ctx, ["A", "B"], 1, 5);
  await waitFor("B done", async () => (await runOrder(ctx.sql)).get("B")?.length === 5);
  const dl = await deadLetterOf(ids.get("A:2")!);
  await waitParked("A");
  await waitFor("A's later events parked", async () => Number((await ctx.sql`select count(*)::int as n from parked_events where partition_key = 'A'`)[0]!.n) === 3);
  // More of A wait behind it, more of B go on.
  await writeSteps(ctx, ["A", "B"], 6, 6);
  await waitFor("B's 6th", async () => (await runOrder(ctx.sql)).get("B")?.length === 6);
  await waitFor("A's 6th parked", async () => Number((await ctx.sql`select count(*)::int as n from parked_events where partition_key = 'A'`)[0]!.n) === 4);
  expect((await runOrder(ctx.sql)).get("A")).toEqual([1]);
  const parked = await ctx.sql<{ event_id: string }[]>`select event_id from parked_events where partition_key = 'A' order by position`;
  const six = await ctx.sql<{ id: string }[]>`select id from outbox where aggregate_id = 'A' and payload->>'step' = '6'`;
  expect(parked.map((p) => p.event_id)).toEqual([ids.get("A:3")!, ids.get("A:4")!, ids.get("A:5")!, six[0]!.id]);

  failing.clear();
  expect((await retryDeadLetter(admin(), dl)).outcome).toBe("retried");
  await waitFor("A done", async () => (await runOrder(ctx.sql)).get("A")?.length === 6);
  await waitFor("A free", async () => (await ctx.sql`select 1 from parked_keys`).length === 0);
  expect((await runOrder(ctx.sql)).get("A")).toEqual(range(1, 6));
  expect(await ctx.sql`select 1 from parked_events`).toHaveLength(0);
  // Free again: a new event of A runs at once.
  await writeSteps(ctx, ["A"], 7, 7);
  await waitFor("A's 7th", async () => (await runOrder(ctx.sql)).get("A")?.length === 7);
  expect((await runOrder(ctx.sql)).get("A")).toEqual(range(1, 7));
  expect((await runOrder(ctx.sql)).get("B")).toEqual(range(1, 6));
});

test("deleting a parked key's dead letter lets its waiting events run in order, without the deleted one", async () => {
  const failing = new Set(["A:2"]);
  await engines(["a"], { failing });
  const ids = await writeSteps(ctx, ["A", "B"], 1, 4);
  const dl = await deadLetterOf(ids.get("A:2")!);
  await waitFor("A's later events parked", async () => Number((await ctx.sql`select count(*)::int as n from parked_events where partition_key = 'A'`)[0]!.n) === 2);
  expect(await deleteDeadLetter(admin(), dl)).toBe("discarded");
  await waitFor("A done", async () => (await runOrder(ctx.sql)).get("A")?.length === 3);
  await waitFor("A free", async () => (await ctx.sql`select 1 from parked_keys`).length === 0);
  expect((await runOrder(ctx.sql)).get("A")).toEqual([1, 3, 4]);
  await waitFor("B done", async () => (await runOrder(ctx.sql)).get("B")?.length === 4);
  expect((await runOrder(ctx.sql)).get("B")).toEqual(range(1, 4));
});

test("a re-driven event that fails again parks its key behind the new dead letter, and the rest keep waiting", async () => {
  const failing = new Set(["A:2"]);
  await engines(["a"], { failing });
  const ids = await writeSteps(ctx, ["A"], 1, 4);
  const first = await deadLetterOf(ids.get("A:2")!);
  await waitFor("A's later events parked", async () => Number((await ctx.sql`select count(*)::int as n from parked_events`)[0]!.n) === 2);
  await retryDeadLetter(admin(), first);
  const second = await waitFor("a second dead letter", async () =>
    (await ctx.sql<{ dead_letter_id: string }[]>`select dead_letter_id from parked_keys where partition_key = 'A' and dead_letter_id <> ${first}`)[0]?.dead_letter_id);
  await waitFor("A's later events waiting again", async () =>
    Number((await ctx.sql`select count(*)::int as n from parked_events where not redriven`)[0]!.n) === 2);
  expect((await runOrder(ctx.sql)).get("A")).toEqual([1]);
  failing.clear();
  await retryDeadLetter(admin(), second);
  await waitFor("A done", async () => (await runOrder(ctx.sql)).get("A")?.length === 4);
  expect((await runOrder(ctx.sql)).get("A")).toEqual(range(1, 4));
  await waitFor("A free", async () => (await ctx.sql`select 1 from parked_keys`).length === 0);
});

test("a parked key's re-driven events keep their place behind the key's events of the handler's other ordered types", async () => {
  // A's pay is dead-lettered; its cancel (another type) waits behind it, a later pay is parked.
  const failing = new Set(["A:1"]);
  const engine = await ctx.startEngine(["step.pay", "step.cancel"].map((eventType) => sequenceHandler({ eventType, failing })), { env: PARTITIONS });
  await engine.consumersStarted;
  const ids = await writeSteps(ctx, ["A"], 1, 1, "step.pay");
  await writeSteps(ctx, ["A"], 2, 2, "step.cancel");
  await writeSteps(ctx, ["A"], 3, 3, "step.pay");
  const dl = await deadLetterOf(ids.get("A:1")!);
  await waitFor("A's later pay parked", async () => (await ctx.sql`select 1 from parked_events where partition_key = 'A'`).length === 1);
  expect(await countRuns(ctx.sql)).toBe(0);
  failing.clear();
  await retryDeadLetter(admin(), dl);
  await waitRuns(3);
  expect((await runOrder(ctx.sql)).get("A")).toEqual([1, 2, 3]);
  await waitFor("A free", async () => (await ctx.sql`select 1 from parked_keys`).length === 0);
});

test("an entry whose event its killed owner committed but never acked does not hold the key's later events behind it", async () => {
  const relay = await ctx.startEngine([sequenceHandler()], { parts: { consumers: false }, consumerName: `${ctx.prefix}-relay` });
  const ids = await writeSteps(ctx, ["A"], 1, 3);
  await waitFor("published", async () => (await ctx.sql`select 1 from outbox where published_at is null`).length === 0);
  await relay.stop();
  // The dead owner read step 1 and committed its run (which settles what the handler owed for
  // it), then died before its XACK: the entry stays pending, in front of steps 2 and 3.
  const stream = keys.stream(ctx.prefix, "step.done");
  await ensureGroup(ctx.redis, stream, "seq");
  await ctx.redis.xreadgroup("GROUP", "seq", "dead", "COUNT", 1, "STREAMS", stream, ">");
  await ctx.sql.begin(async (tx) => {
    await tx`insert into processed_events (handler, event_id) values ('seq', ${ids.get("A:1")!})`;
    await tx`delete from ordered_backlog where handler = 'seq' and event_id = ${ids.get("A:1")!}`;
    await tx`insert into sequence (aggregate_id, step, event_id, consumer) values ('A', 1, ${ids.get("A:1")!}, 'dead')`;
  });
  const engine = await ctx.startEngine([sequenceHandler({ consumer: "b" })], { consumerName: `${ctx.prefix}-b` });
  await engine.consumersStarted;
  await waitRuns(3);
  expect((await runOrder(ctx.sql)).get("A")).toEqual([1, 2, 3]);
  await waitFor("nothing left pending", async () => ((await ctx.redis.xpending(stream, "seq")) as [number])[0] === 0);
});

test("raising a partition's fence waits for the old owner's run in flight, and a stale owner's run commits nothing", async () => {
  const ref = { handler: "seq", eventType: "step.done", partition: 0 };
  const old = await raiseFence(ctx.sql, ref, "old");
  const order: string[] = [];
  let finish!: () => void;
  const held = new Promise<void>((r) => (finish = r));
  let checked!: () => void;
  const inside = new Promise<void>((r) => (checked = r));
  const run = ctx.db.transaction(async (tx) => {
    await checkFence(tx, ref, old);
    checked();
    await held;
    order.push("old run committed");
  });
  await inside;
  const raising = raiseFence(ctx.sql, ref, "new").then((g) => (order.push("raised"), g));
  await Bun.sleep(50);
  finish();
  await run;
  const current = await raising;
  expect(order).toEqual(["old run committed", "raised"]);
  expect(current).toBe(old + 1);

  // The old owner's next run through the pipeline: fenced, nothing recorded, its entry still pending.
  const [sub] = resolveSubscriptions([sequenceHandler()], HANDLER_DEFAULTS);
  const layout = makeLayout({}, [sub!]);
  const stream = keys.stream(ctx.prefix, "step.done");
  await ensureGroup(ctx.redis, stream, "seq");
  const [entryId] = await publishRows(ctx.redis, ctx.prefix, [{
    id: crypto.randomUUID(), event_type: "step.done", aggregate_id: "A", tenant_id: null, payload: JSON.stringify({ step: 1 }), created_at: new Date(),
  }]);
  const read = (await ctx.redis.xreadgroup("GROUP", "seq", "old", "COUNT", 1, "STREAMS", stream, ">")) as [string, [string, string[]][]][];
  const [[id, fields]] = read[0]![1] as [[string, string[]]];
  expect(id).toBe(entryId!);
  const result = await runEntry({
    sql: ctx.sql, sub: sub!, layout, fence: ref, generation: old, redriver: { redis: ctx.redis, prefix: ctx.prefix, layout },
    pipeline: {
      db: ctx.db, sql: ctx.sql, redis: ctx.redis, prefix: ctx.prefix, log: ctx.log, idempotencyTtlMs: 60_000,
      stream, failures: keys.failures(ctx.prefix, "seq", "step.done"), outage: { failures: 0 },
    },
  }, { id, fields, attempt: 1, deliveries: 1 });
  expect(result.kind).toBe("fenced");
  expect(await countRuns(ctx.sql)).toBe(0);
  expect(await ctx.sql`select 1 from processed_events`).toHaveLength(0);
  expect(((await ctx.redis.xpending(stream, "seq")) as [number])[0]).toBe(1);
  await expect(ctx.db.transaction((tx) => checkFence(tx, ref, old))).rejects.toBeInstanceOf(FencedError);
});

test("per-event priorities do not reorder an ordered type: a backlog goes out in the order it was written", async () => {
  const { writeEvent } = await import("../src/engine/index.ts");
  for (let step = 1; step <= 8; step++) {
    await ctx.db.transaction((tx) => writeEvent(tx, { eventType: "step.done", aggregateId: "P", payload: { step }, priority: Math.min(10, step) }));
  }
  // Small relay batches: the later, higher-priority events would be claimed first.
  const engine = await ctx.startEngine([sequenceHandler()], { env: PARTITIONS, consumerName: `${ctx.prefix}-a`, relay: { batchSize: 3, oldestShare: 0 } });
  await engine.consumersStarted;
  await waitRuns(8);
  expect((await runOrder(ctx.sql)).get("P")).toEqual(range(1, 8));
});

test("one handler ordered over several types: create, pay and cancel of each order run in the order written, over three consumers", async () => {
  const types = ["order.created", "order.paid", "order.cancelled"];
  // Priorities would publish cancellations ahead of payments; the order per key still holds.
  const priorities = { "order.created": 10, "order.cancelled": 9, "order.paid": 1 };
  const failOnce = new Set(["o-2:2", "o-5:4"]);
  await Promise.all(["a", "b", "c"].map(async (name) => {
    const subs = types.map((eventType) => sequenceHandler({ eventType, consumer: name, failOnce, sleepMs: () => Math.floor(Math.random() * 3) }));
    const engine = await ctx.startEngine(subs, { env: PARTITIONS, consumerName: `${ctx.prefix}-${name}`, priorities });
    await engine.consumersStarted;
  }));
  const orders = range(0, 7).map((i) => `o-${i}`);
  for (let step = 1; step <= 9; step++) await writeSteps(ctx, orders, step, step, types[(step - 1) % 3]);
  await waitRuns(orders.length * 9);
  const order = await runOrder(ctx.sql);
  for (const o of orders) expect({ o, steps: order.get(o) }).toEqual({ o, steps: range(1, 9) });
  expect(failOnce.size).toBe(0);
});

test("changing the partition count keeps each key's order: its earlier events in the old partition run before its later ones in the new", async () => {
  // Written under 2 partitions while no consumer runs...
  const relay = await ctx.startEngine([sequenceHandler()], { env: { STREAM_PARTITIONS: "2" }, parts: { consumers: false }, consumerName: `${ctx.prefix}-relay` });
  const aggregates = range(0, 11).map((i) => `agg-${i}`);
  await writeSteps(ctx, aggregates, 1, 4);
  await waitFor("published", async () => (await ctx.sql`select 1 from outbox where published_at is null`).length === 0);
  await relay.stop();
  // ...then the fleet comes back with 8: most keys move, and their later events land elsewhere,
  // while each key's last old event is still being retried in its old partition.
  const failOnce = new Set(aggregates.map((a) => `${a}:4`));
  await Promise.all(["a", "b"].map(async (name) => {
    const engine = await ctx.startEngine([sequenceHandler({ consumer: name, failOnce, sleepMs: () => Math.floor(Math.random() * 3) })], {
      env: { STREAM_PARTITIONS: "8" }, consumerName: `${ctx.prefix}-${name}`,
    });
    await engine.consumersStarted;
  }));
  await writeSteps(ctx, aggregates, 5, 8);
  await waitRuns(aggregates.length * 8);
  const moved = await ctx.sql`select aggregate_id from outbox group by aggregate_id having count(distinct coalesce(stream_partition, 0)) > 1`;
  expect(moved.length).toBeGreaterThan(0);
  const order = await runOrder(ctx.sql);
  for (const a of aggregates) expect({ a, steps: order.get(a) }).toEqual({ a, steps: range(1, 8) });
});
