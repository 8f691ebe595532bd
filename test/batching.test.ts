// First deliveries are committed in batches; a batch must never change what happens to one event.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { z } from "zod";
import { subscribe, type HandlerContext } from "../src/engine/delivery/subscribe.ts";
import { keys } from "../src/engine/redis/keys.ts";
import type { OutcomeReport } from "../src/engine/index.ts";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { pendingOf, readDeadLetters } from "./support/effects.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(() => ctx.cleanup());

const job = z.object({ n: z.number() });
/** The effect records the transaction it ran in, to tell batches apart. */
const record = (c: HandlerContext, eventId: string, n: number) =>
  c.tx.execute(sql`insert into effects (handler, event_id, note) values (${c.handler}, ${eventId}, ${`${n}:` + "txid"} || txid_current()::text)`);
const effects = () => ctx.sql<{ event_id: string; note: string }[]>`select event_id, note from effects`;

/** Inserts `count` job.run rows in one statement, so the relay publishes them together. */
async function insertJobs(count: number, payload: (i: number) => unknown = (i) => ({ n: i })): Promise<string[]> {
  const payloads = Array.from({ length: count }, (_, i) => JSON.stringify(payload(i)));
  const rows = await ctx.sql<{ id: string }[]>`insert into outbox (event_type, payload) select 'job.run', p::jsonb from unnest(${payloads}::text[]) as p returning id`;
  return rows.map((r) => r.id);
}

/** Starts the engine with the relay held back, inserts the rows, then lets them go at once. */
async function burst(count: number, handle: (e: { id: string; payload: { n: number } }, c: HandlerContext) => Promise<void>, opts: { batchSize?: number; maxAttempts?: number; reports?: OutcomeReport[] } = {}) {
  const ids = await insertJobs(count);
  await ctx.startEngine(
    [subscribe({ handler: "worker", eventType: "job.run", schema: job, options: { batchSize: opts.batchSize ?? 50, concurrency: 2, maxAttempts: opts.maxAttempts ?? 3, backoff: { initialMs: 50, multiplier: 2, maxMs: 200 } }, handle })],
    { onOutcome: (r) => opts.reports?.push(r) },
  );
  return ids;
}

test("a burst is committed in batches, each event exactly once, and nothing is left pending", async () => {
  const ids = await burst(300, (e, c) => record(c, e.id, e.payload.n).then(() => {}));
  await waitFor("every effect", async () => (await effects()).length === 300);
  await waitFor("nothing pending", async () => (await pendingOf(ctx, "job.run", "worker")) === 0);
  const rows = await effects();
  expect(new Set(rows.map((r) => r.event_id))).toEqual(new Set(ids));
  const transactions = new Set(rows.map((r) => r.note.split("txid")[1]));
  expect(transactions.size).toBeLessThan(300 / 10);
  const [{ n }] = await ctx.sql`select count(*)::int as n from processed_events where handler = 'worker'` as unknown as [{ n: number }];
  expect(n).toBe(300);
});

test("one failing event in a batch: the others commit once, the failing one is retried alone and then dead-lettered", async () => {
  const runs = new Map<number, number>();
  const reports: OutcomeReport[] = [];
  const ids = await burst(120, async (e, c) => {
    runs.set(e.payload.n, (runs.get(e.payload.n) ?? 0) + 1);
    await record(c, e.id, e.payload.n);
    if (e.payload.n === 7) throw new Error("poison");
  }, { reports, maxAttempts: 2 });
  await waitFor("the dead letter", async () => (await readDeadLetters(ctx)).length === 1);
  await waitFor("every other effect", async () => (await effects()).length === 119);
  const rows = await effects();
  expect(rows.some((r) => r.event_id === ids[7])).toBe(false);
  expect(new Set(rows.map((r) => r.event_id)).size).toBe(119);
  expect((await readDeadLetters(ctx))[0]).toMatchObject({ eventId: ids[7], reason: "max_attempts", error: "poison", attempts: "2" });
  // The poison ran in its batch (rolled back), then alone for each of its two attempts.
  expect(runs.get(7)).toBe(3);
  await waitFor("nothing pending", async () => (await pendingOf(ctx, "job.run", "worker")) === 0);
  // Reported after the ack.
  await waitFor("every outcome reported", () => reports.filter((r) => r.outcome === "processed").length >= 119);
  expect(reports.filter((r) => r.outcome === "processed")).toHaveLength(119);
});

test("an entry failing its schema inside a batch is dead-lettered; the rest of the batch is processed", async () => {
  const ids = await insertJobs(40, (i) => (i === 3 ? { n: "three" } : { n: i }));
  await ctx.startEngine([subscribe({ handler: "worker", eventType: "job.run", schema: job, options: { batchSize: 50 }, handle: (e, c) => record(c, e.id, e.payload.n).then(() => {}) })]);
  await waitFor("the others", async () => (await effects()).length === 39);
  const [dl] = await waitFor("the dead letter", async () => ((await readDeadLetters(ctx)).length === 1 ? readDeadLetters(ctx) : null));
  expect(dl).toMatchObject({ eventId: ids[3], reason: "schema_invalid" });
});

test("the same event twice in one batch changes state once and both entries are acked", async () => {
  const reports: OutcomeReport[] = [];
  // Published twice (what a relay crash between XADD and commit leaves), before any consumer runs.
  const [id] = await insertJobs(1);
  const stream = keys.stream(ctx.prefix, "job.run");
  const fields = ["id", id!, "type", "job.run", "aggregateId", "", "tenantId", "", "occurredAt", new Date().toISOString(), "payload", '{"n":1}'];
  await ctx.sql`update outbox set published_at = now()`;
  await ctx.redis.xgroup("CREATE", stream, "worker", "0", "MKSTREAM");
  await ctx.redis.xadd(stream, "*", ...fields);
  await ctx.redis.xadd(stream, "*", ...fields);
  await ctx.startEngine([subscribe({ handler: "worker", eventType: "job.run", schema: job, options: { batchSize: 10 }, handle: (e, c) => record(c, e.id, 1).then(() => {}) })], { onOutcome: (r) => reports.push(r) });
  await waitFor("both entries acked", async () => reports.length === 2 && (await pendingOf(ctx, "job.run", "worker")) === 0);
  expect((await effects()).length).toBe(1);
  expect(reports.map((r) => r.outcome).sort()).toEqual(["duplicate", "processed"]);
});

test("with a lockKey, a batch runs its events in key order, keeping stream order within a key", async () => {
  const keyOf = (n: number) => `tenant-${(n * 7) % 5}`;
  await insertJobs(200);
  const runs: { txid: string; key: string; n: number }[] = [];
  await ctx.startEngine([subscribe({
    handler: "worker", eventType: "job.run", schema: job, options: { batchSize: 50, concurrency: 2 },
    lockKey: (e) => keyOf(e.payload.n),
    handle: async (e, c) => {
      const [row] = (await c.tx.execute(sql`select txid_current()::text as txid`)) as unknown as { txid: string }[];
      runs.push({ txid: row!.txid, key: keyOf(e.payload.n), n: e.payload.n });
      await record(c, e.id, e.payload.n);
    },
  })]);
  await waitFor("every effect", async () => (await effects()).length === 200);
  const byTx = new Map<string, typeof runs>();
  for (const r of runs) byTx.set(r.txid, [...(byTx.get(r.txid) ?? []), r]);
  expect([...byTx.values()].some((rs) => new Set(rs.map((r) => r.key)).size > 1)).toBe(true);
  for (const rs of byTx.values()) {
    expect(rs.map((r) => r.key)).toEqual(rs.map((r) => r.key).sort());
    for (const key of new Set(rs.map((r) => r.key))) {
      const ns = rs.filter((r) => r.key === key).map((r) => r.n);
      expect(ns).toEqual([...ns].sort((a, b) => a - b));
    }
  }
});

describe("handleBatch (set-based handlers)", () => {
  const txid = async (c: HandlerContext) => ((await c.tx.execute(sql`select txid_current()::text as txid`)) as unknown as { txid: string }[])[0]!.txid;

  test("gets only the events its handler has not processed, in stream order, all in one transaction", async () => {
    const ids = await insertJobs(60);
    // Ten of them were processed before (a redelivery after a crash, say).
    await ctx.sql`insert into processed_events (handler, event_id) select 'worker', unnest(${ids.slice(20, 30)}::uuid[])`;
    const calls: { txid: string; ns: number[] }[] = [];
    await ctx.startEngine([subscribe({
      handler: "worker", eventType: "job.run", schema: job, options: { batchSize: 100, concurrency: 1 },
      handleBatch: async (events, c) => {
        calls.push({ txid: await txid(c), ns: events.map((e) => e.payload.n) });
        for (const e of events) await record(c, e.id, e.payload.n);
      },
    })]);
    await waitFor("every new effect", async () => (await effects()).length === 50);
    const seen = calls.flatMap((c) => c.ns);
    expect(seen).toEqual([...Array.from({ length: 20 }, (_, i) => i), ...Array.from({ length: 30 }, (_, i) => i + 30)]);
    expect(new Set(calls.map((c) => c.txid)).size).toBe(calls.length);
    expect(calls.length).toBeLessThan(50);
    await waitFor("nothing pending", async () => (await pendingOf(ctx, "job.run", "worker")) === 0);
  });

  test("a failing batch falls back to one transaction per event: the bad event changes nothing, the others commit once", async () => {
    const reports: OutcomeReport[] = [];
    const ids = await insertJobs(30);
    const sizes: number[] = [];
    await ctx.startEngine([subscribe({
      handler: "worker", eventType: "job.run", schema: job,
      options: { batchSize: 100, concurrency: 1, maxAttempts: 2, backoff: { initialMs: 50, multiplier: 1, maxMs: 50 } },
      handleBatch: async (events, c) => {
        sizes.push(events.length);
        for (const e of events) {
          await record(c, e.id, e.payload.n);
          if (e.payload.n === 13) throw new Error("poison 13");
        }
      },
    })], { onOutcome: (r) => reports.push(r) });
    await waitFor("the dead letter", async () => (await readDeadLetters(ctx)).length === 1);
    await waitFor("every other effect", async () => (await effects()).length === 29);
    const rows = await effects();
    expect(rows.some((r) => r.event_id === ids[13])).toBe(false);
    expect(new Set(rows.map((r) => r.event_id)).size).toBe(29);
    // The batch, then every event alone (handleBatch with one event), then the retry of the bad one.
    expect(sizes.filter((n) => n > 1).length).toBeGreaterThanOrEqual(1);
    expect(sizes.filter((n) => n === 1).length).toBeGreaterThanOrEqual(30);
    expect((await readDeadLetters(ctx))[0]).toMatchObject({ eventId: ids[13], reason: "max_attempts", error: "poison 13" });
    await waitFor("every outcome reported", () => reports.filter((r) => r.outcome === "processed").length === 29);
  });

  test("with handle too, a single event runs handle and a batch runs handleBatch", async () => {
    await insertJobs(10);
    const used: string[] = [];
    await ctx.startEngine([subscribe({
      handler: "worker", eventType: "job.run", schema: job, options: { batchSize: 100, concurrency: 1 },
      handleBatch: async (events, c) => {
        used.push(`batch:${events.length}`);
        for (const e of events) await record(c, e.id, e.payload.n);
      },
      handle: async (e, c) => {
        used.push("single");
        await record(c, e.id, e.payload.n);
      },
    })]);
    await waitFor("ten effects", async () => (await effects()).length === 10);
    // However the relay and the reads split them: never handleBatch with one event.
    expect(used.some((u) => u.startsWith("batch:"))).toBe(true);
    expect(used.filter((u) => u === "batch:1")).toEqual([]);
    const before = used.length;
    await insertJobs(1);
    await waitFor("the eleventh", async () => (await effects()).length === 11);
    expect(used.slice(before)).toEqual(["single"]);
  });
});
