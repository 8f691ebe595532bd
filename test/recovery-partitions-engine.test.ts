// A running engine with STREAM_PARTITIONS 4 losing Redis data: everything (FLUSHALL), one
// partition's keys (one shard of a cluster losing its data), and a pending entry of a partition
// > 0. The engine notices each on its own and every handler applies every event exactly once.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { z } from "zod";
import type { Engine } from "../src/engine/index.ts";
import { subscribe, type HandlerContext } from "../src/engine/delivery/subscribe.ts";
import { keys, slotTag } from "../src/engine/redis/keys.ts";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { deleteKeys as deleteKeysOf } from "./support/context.ts";
import { recordEffect } from "./support/effects.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(() => ctx.cleanup());

const TYPE = "job.run";
const PARTITIONS = 4;
const NEVER = "0 0 1 1 *";
const schema = z.object({ n: z.number() });
const stream = (p: number) => keys.stream(ctx.prefix, TYPE, p);

/** `steady` always works; `flaky` fails while `failing` is set, so its entries stay pending. */
function world() {
  const state = { failing: true };
  const handle = async (e: { id: string }, c: HandlerContext) => {
    if (c.handler === "flaky" && state.failing) throw new Error("flaky is down");
    await recordEffect(c, e.id);
  };
  const options = { backoff: { initialMs: 100, multiplier: 2, maxMs: 300 } };
  return { state, subs: ["steady", "flaky"].map((handler) => subscribe({ handler, eventType: TYPE, schema, handle, options })) };
}

async function insertJobs(count: number): Promise<{ id: string }[]> {
  return ctx.sql<{ id: string }[]>`
    insert into outbox (event_type, aggregate_id, payload)
    select ${TYPE}, 'agg-' || i, jsonb_build_object('n', i) from generate_series(1, ${count}) as i
    returning id::text as id`;
}

const partitionOf = async (id: string) =>
  Number((await ctx.sql<{ p: number }[]>`select coalesce(stream_partition, 0)::int as p from outbox where id = ${id}`)[0]!.p);

async function expectEachOnce(ids: string[], handlers: string[]): Promise<void> {
  const want = handlers.flatMap((h) => ids.map((id) => `${h}:${id}:1`)).sort();
  const effects = async () => (await ctx.sql<{ k: string }[]>`select handler || ':' || event_id || ':' || count(*) as k from effects group by handler, event_id`).map((r) => r.k).sort();
  await waitFor("every handler applied every event", async () => JSON.stringify(await effects()) === JSON.stringify(want), 30_000);
  await Bun.sleep(500); // a duplicate still on its way would show up here
  expect(await effects()).toEqual(want);
}

const deleteKeys = (pattern: string) => deleteKeysOf(ctx.redis, pattern);

const recovered = (engine: Engine) => engine.status().recovery?.last ?? null;
const lastEntry = async (p: number) => (await ctx.redis.xrevrange(stream(p), "+", "-", "COUNT", 1))[0]?.[0] ?? null;

test("with 4 partitions, Redis losing every key while events are pending: every handler applies every event exactly once, across the partitions", async () => {
  const w = world();
  const engine = await ctx.startEngine(w.subs, { partitions: { count: PARTITIONS }, env: { RELAY_CRON: NEVER } });
  await engine.consumersStarted;
  const ids = (await insertJobs(40)).map((r) => r.id);
  engine.relay!.wake();
  await waitFor("steady did all, flaky failing", async () =>
    Number((await ctx.sql`select count(*)::int as n from effects where handler = 'steady'`)[0]!.n) === 40);
  expect(new Set(await Promise.all(ids.map(partitionOf))).size).toBe(PARTITIONS);

  await deleteKeys(`${ctx.prefix}:*`);
  const report = await waitFor("recovery", () => recovered(engine)?.reason === "missing" && recovered(engine));
  // The whole recovery covers every part. A consumer that met a vanished group after it began
  // drops that partition's sentinel, so a second, partial recovery may follow: that is by design.
  expect(report.parts).toEqual([...Array.from({ length: PARTITIONS }, (_, p) => `${TYPE}#${p}`), "dead letters"]);
  w.state.failing = false;
  await expectEachOnce(ids, ["steady", "flaky"]);
});

test("with 4 partitions, one partition losing its keys is noticed and recovered alone: its unsettled events are published again, the other partitions' streams get nothing", async () => {
  const w = world();
  const engine = await ctx.startEngine(w.subs, { partitions: { count: PARTITIONS }, env: { RELAY_CRON: NEVER } });
  await engine.consumersStarted;
  const ids = (await insertJobs(40)).map((r) => r.id);
  engine.relay!.wake();
  await waitFor("steady did all, flaky failing", async () =>
    Number((await ctx.sql`select count(*)::int as n from effects where handler = 'steady'`)[0]!.n) === 40);
  await waitFor("the partitions' sentinels", async () =>
    (await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => ctx.redis.exists(keys.slotEpoch(ctx.prefix, slotTag(ctx.prefix, TYPE, p)))))).every((n) => n === 1));
  const before = recovered(engine);

  const lost = 2;
  const inLost = (await Promise.all(ids.map(async (id) => ((await partitionOf(id)) === lost ? id : null)))).filter((id): id is string => id !== null);
  expect(inLost.length).toBeGreaterThan(0);
  const others = [0, 1, 3];
  const lastBefore = await Promise.all(others.map(lastEntry));
  // Every key in the partition's slot: its stream, sentinel, failure counts and orphans.
  await deleteKeys(`${ctx.prefix}:*{${slotTag(ctx.prefix, TYPE, lost)}}*`);
  await ctx.redis.del(stream(lost));

  await waitFor("the partition's recovery", () => recovered(engine) !== before && recovered(engine)?.reason === "part_lost" && recovered(engine));
  expect(recovered(engine)!.parts).toEqual([`${TYPE}#${lost}`]);
  expect(await ctx.redis.exists(keys.epoch(ctx.prefix))).toBe(1);
  w.state.failing = false;
  await expectEachOnce(ids, ["steady", "flaky"]);
  expect(await Promise.all(others.map(lastEntry))).toEqual(lastBefore);
  // steady had settled them all: only flaky's were published again, once each, for it alone, into the partition.
  const entries = (await ctx.redis.xrange(stream(lost), "-", "+")).map(([, f]) => `${f[f.indexOf("id") + 1]}>${f[f.indexOf("target") + 1]}`);
  expect(entries.sort()).toEqual(inLost.map((id) => `${id}>flaky`).sort());
});

test("with 4 partitions, a pending entry of a partition > 0 deleted from its stream is re-driven from the outbox and applied once", async () => {
  const w = world();
  const engine = await ctx.startEngine(w.subs, { partitions: { count: PARTITIONS }, env: { RELAY_CRON: NEVER } });
  await engine.consumersStarted;
  const ids = (await insertJobs(12)).map((r) => r.id);
  engine.relay!.wake();
  const partitions = await waitFor("published", async () => {
    const ps = await Promise.all(ids.map(partitionOf));
    return (await ctx.sql`select 1 from outbox where published_at is null`).length === 0 && ps;
  });
  const i = partitions.findIndex((p) => p > 0);
  const [id, p] = [ids[i]!, partitions[i]!];
  const [{ stream_id } = { stream_id: "" }] = await ctx.sql<{ stream_id: string }[]>`select stream_id from outbox where id = ${id}`;
  await waitFor("flaky failed it, so it is pending", async () => {
    const pending = (await ctx.redis.xpending(stream(p), "flaky", stream_id, stream_id, 1)) as unknown[];
    return pending.length === 1;
  });
  await ctx.redis.xdel(stream(p), stream_id);
  // Still failing, so no run already under way can finish it from its copy in memory: only the
  // re-drive from the outbox can.
  const redrives = await waitFor("the re-drive", async () => {
    const rows = await ctx.sql<{ stream: string; handler: string }[]>`select stream, handler from redrives where event_id = ${id}`;
    return rows.length > 0 && [...rows];
  });
  expect(redrives).toEqual([{ stream: stream(p), handler: "flaky" }]);
  w.state.failing = false;
  await expectEachOnce(ids, ["steady", "flaky"]);
});
