// Recovery from Redis data loss with an event type split into 4 partitions: everything lost, one
// partition's keys lost (what one cluster shard losing its data looks like), and a pending entry
// of a partition > 0 deleted. Driven through the recovery functions on real Redis and PostgreSQL.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { z } from "zod";
import { makeLayout, partitionsOf } from "../src/engine/partitions/layout.ts";
import { keyedRow } from "../src/engine/outbox/publish.ts";
import type { OutboxRow } from "../src/engine/outbox/claim.ts";
import { relayBatch } from "../src/engine/outbox/relay.ts";
import { recoverDeletedEntry } from "../src/engine/delivery/recover.ts";
import { subscribe } from "../src/engine/delivery/subscribe.ts";
import { joinSubscription } from "../src/engine/recovery/join.ts";
import { recoverStreams } from "../src/engine/recovery/recover.ts";
import { startRecoveryWatcher, type RecoveryWatcher } from "../src/engine/recovery/watcher.ts";
import { keys, slotTag } from "../src/engine/redis/keys.ts";
import { fieldsOf } from "../src/engine/redis/fields.ts";
import { createTestContext, insertOutboxRow, type TestContext } from "./support/context.ts";
import { deleteKeys as deleteKeysOf } from "./support/context.ts";

let ctx: TestContext;
let watcher: RecoveryWatcher | null = null;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(async () => {
  await watcher?.stop();
  watcher = null;
  await ctx.cleanup();
});

const TYPE = "job.run";
const PARTITIONS = 4;
const layout = makeLayout({ count: PARTITIONS }, []);
const HANDLERS = ["a", "b"];
const pairs = HANDLERS.map((handler) => ({ eventType: TYPE, handler }));
const stream = (p: number) => keys.stream(ctx.prefix, TYPE, p);
const deps = () => ({ sql: ctx.sql, redis: ctx.redis, prefix: ctx.prefix, subscriptions: pairs, consumer: `${ctx.prefix}-test`, layout });

/** Both handlers joined on every partition, then `n` events published through the relay to their partitions. */
async function publishEvents(n: number): Promise<{ id: string; partition: number }[]> {
  for (const handler of HANDLERS) await joinSubscription({ ...deps(), log: ctx.log }, { handler, eventType: TYPE }, PARTITIONS);
  for (let i = 0; i < n; i++) await insertOutboxRow(ctx.sql, TYPE, { n: i });
  while ((await relayBatch({ sql: ctx.sql, redis: ctx.redis, prefix: ctx.prefix, batchSize: 100, layout })).taken > 0);
  const rows = await ctx.sql<{ id: string; partition: number }[]>`
    select id::text as id, coalesce(stream_partition, 0)::int as partition from outbox where published_at is not null`;
  expect(rows.length).toBe(n);
  return rows;
}

/** What a handler's group delivers from one partition now: the events of the entries meant for it, each as often as delivered. */
async function deliver(handler: string, p: number): Promise<string[]> {
  const reply = (await ctx.redis.xreadgroup("GROUP", handler, "test", "COUNT", 10_000, "STREAMS", stream(p), ">")) as [string, [string, string[]][]][] | null;
  return (reply?.[0]?.[1] ?? [])
    .map(([, flat]) => fieldsOf(flat))
    .filter((f) => !f.target || f.target === handler)
    .map((f) => String(f.id));
}

/** A handler settles events: delivered, committed (processed_events), acked. */
async function settle(handler: string, p: number, ids: Set<string>): Promise<void> {
  const reply = (await ctx.redis.xreadgroup("GROUP", handler, "test", "COUNT", 10_000, "STREAMS", stream(p), ">")) as [string, [string, string[]][]][] | null;
  for (const [entryId, flat] of reply?.[0]?.[1] ?? []) {
    const id = String(fieldsOf(flat).id);
    if (!ids.has(id)) continue;
    await ctx.sql`insert into processed_events (handler, event_id) values (${handler}, ${id})`;
    await ctx.redis.xack(stream(p), handler, entryId);
  }
}

const deleteKeys = (pattern: string) => deleteKeysOf(ctx.redis, pattern);

const lastEntry = async (p: number) => (await ctx.redis.xrevrange(stream(p), "+", "-", "COUNT", 1))[0]?.[0] ?? null;
const partitionOfRow = async (id: string) => {
  const [row] = await ctx.sql<OutboxRow[]>`select id, event_type, aggregate_id, tenant_id, payload::text as payload, created_at from outbox where id = ${id}`;
  return layout.partitionOf(keyedRow(row!));
};

test("Redis losing every key of a 4-partition type: each handler gets each event it had not settled once, in the event's partition, and nothing it settled", async () => {
  const events = await publishEvents(40);
  expect(new Set(events.map((e) => e.partition)).size).toBeGreaterThanOrEqual(3);
  // `a` settled every third event before the loss; `b` nothing.
  const settledByA = new Set(events.filter((_, i) => i % 3 === 0).map((e) => e.id));
  for (const p of partitionsOf(PARTITIONS)) await settle("a", p, settledByA);

  await deleteKeys(`${ctx.prefix}:*`);
  const report = await recoverStreams(deps(), "missing");
  expect(report.republishedEvents).toBe(40);
  expect(report.recreatedGroups).toBe(HANDLERS.length * PARTITIONS);
  expect(report.parts).toEqual([...partitionsOf(PARTITIONS).map((p) => `${TYPE}#${p}`), "dead letters"]);

  const got: Record<string, string[]> = { a: [], b: [] };
  for (const h of HANDLERS) {
    for (const p of partitionsOf(PARTITIONS)) {
      const ids = await deliver(h, p);
      for (const id of ids) expect(await partitionOfRow(id)).toBe(p);
      got[h]!.push(...ids);
    }
  }
  expect(got.b!.sort()).toEqual(events.map((e) => e.id).sort());
  expect(got.a!.sort()).toEqual(events.filter((e) => !settledByA.has(e.id)).map((e) => e.id).sort());
  // Rows both handlers lost went out plain: the row names the new entry and its partition.
  const rows = await ctx.sql<{ id: string; stream_id: string; partition: number }[]>`
    select id::text as id, stream_id, coalesce(stream_partition, 0)::int as partition from outbox where not (id = any(${[...settledByA]}::uuid[]))`;
  for (const r of rows) expect((await ctx.redis.xrange(stream(r.partition), r.stream_id, r.stream_id)).length).toBe(1);
  // Each partition has its own sentinel again, and a second recovery finds nothing to do.
  for (const p of partitionsOf(PARTITIONS)) expect(await ctx.redis.exists(keys.slotEpoch(ctx.prefix, slotTag(ctx.prefix, TYPE, p)))).toBe(1);
  expect((await recoverStreams(deps(), "missing")).republishedEvents).toBe(0);
});

test("one partition losing its keys (stream, sentinel, companions) is noticed on its own: only its unsettled events are published again, into it, and the other partitions' streams get nothing", async () => {
  const events = await publishEvents(40);
  watcher = startRecoveryWatcher({ ...deps(), log: ctx.log, intervalMs: 3_600_000 });
  await watcher.check();
  expect(watcher.status().last).toMatchObject({ reason: "first_start", republishedEvents: 0, recreatedGroups: 0 });

  const lost = [...new Set(events.map((e) => e.partition))].filter((p) => p > 0)[0]!;
  const inLost = events.filter((e) => e.partition === lost);
  const settledByA = new Set([inLost[0]!.id]);
  await settle("a", lost, settledByA);
  for (const h of HANDLERS) await ctx.redis.hset(keys.failures(ctx.prefix, h, TYPE, lost), "0-1", "1");
  const others = partitionsOf(PARTITIONS).filter((p) => p !== lost);
  // An entry of another partition deleted unread (not data loss: that partition kept its sentinel)
  // is left to a whole recovery: a partition's recovery looks at its own partition only.
  const elsewhere = events.find((e) => e.partition !== lost)!;
  const [{ stream_id } = { stream_id: "" }] = await ctx.sql<{ stream_id: string }[]>`select stream_id from outbox where id = ${elsewhere.id}`;
  expect(await ctx.redis.xdel(stream(elsewhere.partition), stream_id)).toBe(1);
  const before = await Promise.all(others.map(lastEntry));

  // What a shard that held this partition's slot losing its data leaves: every key of the slot gone.
  await deleteKeys(`${ctx.prefix}:*{${slotTag(ctx.prefix, TYPE, lost)}}*`);
  await ctx.redis.del(stream(lost));
  expect(await ctx.redis.exists(keys.epoch(ctx.prefix))).toBe(1);
  await watcher.check();

  const report = watcher.status().last!;
  expect(report).toMatchObject({ reason: "part_lost", parts: [`${TYPE}#${lost}`], recreatedGroups: HANDLERS.length, republishedEvents: inLost.length });
  expect(await Promise.all(others.map(lastEntry))).toEqual(before);
  expect((await deliver("b", lost)).sort()).toEqual(inLost.map((e) => e.id).sort());
  expect((await deliver("a", lost)).sort()).toEqual(inLost.filter((e) => !settledByA.has(e.id)).map((e) => e.id).sort());
  expect(await ctx.redis.exists(keys.slotEpoch(ctx.prefix, slotTag(ctx.prefix, TYPE, lost)))).toBe(1);

  // Checked again: nothing missing, nothing done.
  await watcher.check();
  expect(watcher.status().last).toBe(report);
});

test("a consumer group of one partition found missing recovers that partition alone", async () => {
  const events = await publishEvents(20);
  watcher = startRecoveryWatcher({ ...deps(), log: ctx.log, intervalMs: 3_600_000 });
  await watcher.check();
  const lost = [...new Set(events.map((e) => e.partition))].filter((p) => p > 0)[0]!;
  const others = partitionsOf(PARTITIONS).filter((p) => p !== lost);
  const before = await Promise.all(others.map(lastEntry));

  await ctx.redis.xgroup("DESTROY", stream(lost), "b");
  await watcher.groupLost({ eventType: TYPE, handler: "b", partition: lost });
  await watcher.check();
  expect(watcher.status().last).toMatchObject({ reason: "part_lost", parts: [`${TYPE}#${lost}`], recreatedGroups: 0 });
  expect(await Promise.all(others.map(lastEntry))).toEqual(before);
  // b gets its partition's events once more, targeted; a keeps what it had, unread.
  expect((await deliver("b", lost)).sort()).toEqual(events.filter((e) => e.partition === lost).map((e) => e.id).sort());
  expect((await deliver("a", lost)).sort()).toEqual(events.filter((e) => e.partition === lost).map((e) => e.id).sort());
});

test("partitions read for the first time (a count raised) get their sentinels without a warning, and nothing is published again", async () => {
  await publishEvents(10);
  watcher = startRecoveryWatcher({ ...deps(), log: ctx.log, intervalMs: 3_600_000 });
  await watcher.check();
  // Written before there were partition sentinels: only partition 0's is known.
  await ctx.redis.del(keys.vouchedParts(ctx.prefix));
  for (const p of [1, 2, 3]) await ctx.redis.del(keys.slotEpoch(ctx.prefix, slotTag(ctx.prefix, TYPE, p)));
  await watcher.check();
  expect(watcher.status().last).toMatchObject({ reason: "part_new", parts: [`${TYPE}#1`, `${TYPE}#2`, `${TYPE}#3`], republishedEvents: 0, recreatedGroups: 0 });
});

test("a pending entry of a partition > 0 deleted from its stream is re-driven from the outbox into its partition, and so is that re-drive's entry if it goes too", async () => {
  const events = await publishEvents(20);
  const event = events.find((e) => e.partition > 0)!;
  const p = event.partition;
  const [row] = await ctx.sql<{ stream_id: string }[]>`select stream_id from outbox where id = ${event.id}`;
  await deliver("a", p); // pending in a's group
  await ctx.redis.xdel(stream(p), row!.stream_id);
  const sub = subscribe({ handler: "a", eventType: TYPE, schema: z.object({ n: z.number() }), handle: async () => {} });
  const rec = { sql: ctx.sql, redis: ctx.redis, prefix: ctx.prefix, log: ctx.log, layout };

  // Partition 0 has no such entry: looked up in the partition it was pending in.
  await recoverDeletedEntry(rec, sub, row!.stream_id, p);
  const [redrive] = await ctx.sql<{ stream: string; entry_id: string }[]>`select stream, entry_id from redrives where event_id = ${event.id}`;
  expect(redrive!.stream).toBe(stream(p));
  expect(await deliver("a", p)).toEqual([event.id]);

  await ctx.redis.xdel(stream(p), redrive!.entry_id);
  await recoverDeletedEntry(rec, sub, redrive!.entry_id, p);
  expect(await deliver("a", p)).toEqual([event.id]);
  // Both were published for `a` alone: recorded with their partition's stream.
  expect((await ctx.sql`select distinct stream from redrives where event_id = ${event.id}`).map((r) => r.stream)).toEqual([stream(p)]);
});
