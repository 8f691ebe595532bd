import { afterEach, beforeEach, expect, test } from "bun:test";
import { z } from "zod";
import { findByStreamId } from "../src/engine/outbox/claim.ts";
import { subscribe, type HandlerContext } from "../src/engine/delivery/subscribe.ts";
import { keys } from "../src/engine/redis/keys.ts";
import { publishRows } from "../src/engine/outbox/publish.ts";
import { createTestContext, insertOutboxRow, waitFor, type TestContext } from "./support/context.ts";
import { readDeadLetters, recordEffect } from "./support/effects.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(() => ctx.cleanup());

const job = z.object({ n: z.number() });
const record = recordEffect;
const countEffects = async () => Number((await ctx.sql`select count(*)::int as n from effects`)[0]!.n);

test("a slow handler keeps its claim: no other consumer claims or runs the entry meanwhile", async () => {
  let runs = 0;
  const outcomes: string[] = [];
  const sub = subscribe({
    handler: "slow", eventType: "job.run", schema: job,
    handle: async (e, c) => {
      runs++;
      await Bun.sleep(3_000); // three times CLAIM_IDLE_MS (1,000 ms here)
      await record(c, e.id, c.handler);
    },
  });
  const opts = (name: string) => ({ env: { CLAIM_IDLE_MS: "1000", CONSUMER_NAME: `${ctx.prefix}-${name}` }, onOutcome: (r: { outcome: string }) => void outcomes.push(r.outcome) });
  await ctx.startEngine([sub], opts("a"));
  await ctx.startEngine([sub], opts("b"));
  await insertOutboxRow(ctx.sql, "job.run", { n: 1 });
  await waitFor("handler running", () => runs === 1);
  await Bun.sleep(2_200);
  // Still delivered once, to the consumer running it: nobody reclaimed it while it ran.
  const [[, , , deliveries]] = (await ctx.redis.xpending(keys.stream(ctx.prefix, "job.run"), "slow", "-", "+", 10)) as [[string, string, number, number]];
  expect(deliveries).toBe(1);
  await waitFor("effect", async () => (await countEffects()) === 1);
  await Bun.sleep(300);
  expect(runs).toBe(1);
  expect(outcomes).toEqual(["processed"]);
});

test("a handler never runs more entries at once than its concurrency", async () => {
  let running = 0;
  let maxRunning = 0;
  await ctx.startEngine([
    subscribe({
      handler: "pool", eventType: "job.run", schema: job, options: { concurrency: 2, batchSize: 1 },
      handle: async (e, c) => {
        maxRunning = Math.max(maxRunning, ++running);
        await Bun.sleep(150);
        running--;
        await record(c, e.id);
      },
    }),
  ]);
  // Published together (one statement) and one entry per slot (batchSize 1): two slots must run at
  // once, however busy the machine. (Entries of one batch run one after another in its transaction.)
  await ctx.sql`insert into outbox (event_type, payload) select 'job.run', jsonb_build_object('n', n) from generate_series(0, 5) n`;
  await waitFor("all six", async () => (await countEffects()) === 6);
  expect(maxRunning).toBe(2);
});

test("a pending entry deleted from its stream is recovered from the outbox and processed", async () => {
  let fail = true;
  await ctx.startEngine([
    subscribe({
      handler: "picky", eventType: "job.run", schema: job,
      options: { backoff: { initialMs: 300, multiplier: 2, maxMs: 1_000 } },
      handle: async (e, c) => {
        if (fail) throw new Error("not yet");
        await record(c, e.id);
      },
    }),
  ]);
  const id = await insertOutboxRow(ctx.sql, "job.run", { n: 7 });
  const stream = keys.stream(ctx.prefix, "job.run");
  const entryId = await waitFor("first failure", async () => {
    const p = (await ctx.redis.xpending(stream, "picky", "-", "+", 10)) as [string, string, number, number][];
    return p.length === 1 ? p[0]![0] : null;
  });
  await ctx.redis.xdel(stream, entryId);
  fail = false;
  await waitFor("recovered effect", async () => (await countEffects()) === 1);
  const [row] = await ctx.sql`select event_id from effects`;
  expect(row!.event_id).toBe(id);
});

test("a failed entry deleted while it waits out a backoff longer than the claim idle time is recovered too", async () => {
  let fail = true;
  await ctx.startEngine([
    subscribe({
      handler: "patient", eventType: "job.run", schema: job,
      options: { backoff: { initialMs: 3_000, multiplier: 2, maxMs: 10_000 } },
      handle: async (e, c) => {
        if (fail) throw new Error("not yet");
        await record(c, e.id);
      },
    }),
  ], { env: { CLAIM_IDLE_MS: "600" } });
  const id = await insertOutboxRow(ctx.sql, "job.run", { n: 8 });
  const stream = keys.stream(ctx.prefix, "job.run");
  const entryId = await waitFor("first failure", async () => {
    const p = (await ctx.redis.xpending(stream, "patient", "-", "+", 10)) as [string, string, number, number][];
    return p.length === 1 ? p[0]![0] : null;
  });
  fail = false;
  await ctx.redis.xdel(stream, entryId);
  await waitFor("recovered effect", async () => (await countEffects()) === 1, 2_500);
  const [row] = await ctx.sql`select event_id from effects`;
  expect(row!.event_id).toBe(id);
});

test("a re-driven entry runs only for its target handler", async () => {
  const ran: string[] = [];
  const handle = async (e: { id: string }, c: HandlerContext) => {
    ran.push(c.handler);
    await record(c, e.id);
  };
  await ctx.startEngine([
    subscribe({ handler: "a", eventType: "job.run", schema: job, handle }),
    subscribe({ handler: "b", eventType: "job.run", schema: job, handle }),
  ], { parts: { relay: false } });
  const id = await insertOutboxRow(ctx.sql, "job.run", { n: 1 });
  const [entryId] = await publishRows(ctx.redis, ctx.prefix, [(await ctx.sql`select id, event_type, aggregate_id, tenant_id, payload::text as payload, created_at from outbox where id = ${id}`)[0] as never], "b");
  await waitFor("b ran", () => ran.includes("b"));
  const stream = keys.stream(ctx.prefix, "job.run");
  await waitFor("a acked without running", async () => Number(((await ctx.redis.xpending(stream, "a")) as [number])[0]) === 0);
  expect(ran).toEqual(["b"]);
  expect(entryId).toMatch(/^\d+-\d+$/);
  expect(await findByStreamId(ctx.sql, "job.run", entryId!)).toBeUndefined(); // a re-drive is not the row's own entry
});

test("an event a handler writes with ctx.writeEvent is delivered to its own handlers", async () => {
  await ctx.startEngine([
    subscribe({
      handler: "orders", eventType: "order.created", schema: z.object({ orderId: z.string() }),
      handle: async (e, c) => void (await c.writeEvent({ eventType: "order.confirmed", payload: { orderId: e.payload.orderId }, aggregateId: e.payload.orderId })),
    }),
    subscribe({
      handler: "mailer", eventType: "order.confirmed", schema: z.object({ orderId: z.string() }),
      handle: async (e, c) => void (await record(c, e.id, e.payload.orderId)),
    }),
  ]);
  await insertOutboxRow(ctx.sql, "order.created", { orderId: "o-1" });
  await waitFor("confirmation handled", async () => (await countEffects()) === 1);
  const [row] = await ctx.sql`select note from effects`;
  expect(row!.note).toBe("o-1");
});

test("a consumer group or stream deleted under a running engine is recreated and delivery continues", async () => {
  await ctx.startEngine([subscribe({ handler: "steady", eventType: "job.run", schema: job, handle: async (e, c) => void (await record(c, e.id)) })]);
  const stream = keys.stream(ctx.prefix, "job.run");
  await insertOutboxRow(ctx.sql, "job.run", { n: 1 });
  await waitFor("first", async () => (await countEffects()) === 1);
  await ctx.redis.xgroup("DESTROY", stream, "steady");
  await insertOutboxRow(ctx.sql, "job.run", { n: 2 });
  await waitFor("second, after the group was recreated", async () => (await countEffects()) === 2);
  await ctx.redis.del(stream);
  await insertOutboxRow(ctx.sql, "job.run", { n: 3 });
  await waitFor("third, after the stream was recreated", async () => (await countEffects()) === 3);
});

test("an orphan left by a consumer that crashed before re-driving it is recovered by the group", async () => {
  // What a crash between XAUTOCLAIM (which drops a deleted entry from the PEL) and the re-drive leaves.
  const [row] = await ctx.sql<{ id: string }[]>`
    insert into outbox (event_type, payload, published_at, stream_id) values ('job.run', '{"n": 5}', now(), '1-1') returning id`;
  await ctx.redis.sadd(keys.orphans(ctx.prefix, "steady", "job.run"), "1-1");
  await ctx.startEngine([subscribe({ handler: "steady", eventType: "job.run", schema: job, handle: async (e, c) => void (await record(c, e.id)) })]);
  await waitFor("recovered effect", async () => (await countEffects()) === 1);
  const [effect] = await ctx.sql`select event_id from effects`;
  expect(effect!.event_id).toBe(row!.id);
  await waitFor("orphan cleared", async () => (await ctx.redis.scard(keys.orphans(ctx.prefix, "steady", "job.run"))) === 0);
});

test("deliveries cut short by dead processes do not use up attempts; only a runaway delivery count dead-letters", async () => {
  const stream = keys.stream(ctx.prefix, "job.run");
  await ctx.redis.xgroup("CREATE", stream, "pool", "0", "MKSTREAM");
  const entryFor = async (n: number) => {
    const id = await insertOutboxRow(ctx.sql, "job.run", { n });
    await ctx.sql`update outbox set published_at = now() where id = ${id}`;
    const fields = ["id", id, "type", "job.run", "aggregateId", "", "tenantId", "", "occurredAt", new Date().toISOString(), "payload", JSON.stringify({ n })];
    return { eventId: id, entryId: (await ctx.redis.xadd(stream, "*", ...fields))! };
  };
  const crashed = await entryFor(1);
  const runaway = await entryFor(2);
  // Both were delivered to consumers that died: 8 and 20 deliveries, no failure recorded.
  await ctx.redis.xreadgroup("GROUP", "pool", "dead", "COUNT", 10, "STREAMS", stream, ">");
  await ctx.redis.xclaim(stream, "pool", "dead", 0, crashed.entryId, "IDLE", 600_000, "RETRYCOUNT", 8);
  await ctx.redis.xclaim(stream, "pool", "dead", 0, runaway.entryId, "IDLE", 600_000, "RETRYCOUNT", 20);

  const attempts: number[] = [];
  await ctx.startEngine([
    subscribe({
      handler: "pool", eventType: "job.run", schema: job, options: { maxAttempts: 3 },
      handle: async (e, c) => {
        attempts.push(c.attempt);
        await recordEffect(c, e.id);
      },
    }),
  ]);
  await waitFor("the crashed entry's effect and the runaway's dead letter", async () =>
    (await ctx.sql`select 1 from effects where event_id = ${crashed.eventId}`).length === 1 && (await readDeadLetters(ctx)).length === 1);
  expect(attempts).toEqual([1]);
  const [dl] = await readDeadLetters(ctx);
  expect(dl).toMatchObject({ eventId: runaway.eventId, reason: "max_attempts" });
  expect(dl!.error).toContain("delivered 21 times");
});
