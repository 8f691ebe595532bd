import { afterEach, beforeEach, expect, test } from "bun:test";
import { createLogger } from "../src/lib/logger.ts";
import { ensureGroup } from "../src/engine/delivery/groups.ts";
import { keys } from "../src/engine/redis/keys.ts";
import { deleteProcessedOutboxRows, trimStreams } from "../src/engine/maintenance/retention.ts";
import { removeStaleConsumers, trimStream } from "../src/engine/redis/scripts.ts";
import type { Subscription } from "../src/engine/delivery/subscribe.ts";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(() => ctx.cleanup());

const ids = async (stream: string) => (await ctx.redis.xrange(stream, "-", "+")).map(([id]) => id);
const addEntries = async (stream: string, n: number) => {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await ctx.redis.xadd(stream, "*", "n", String(i)))!);
  return out;
};
const read = (stream: string, group: string, count: number) =>
  ctx.redis.xreadgroup("GROUP", group, "c1", "COUNT", count, "STREAMS", stream, ">") as Promise<[string, [string, string[]][]][]>;

test("trimming never drops an entry a group still has pending or has not yet been delivered", async () => {
  const stream = keys.stream(ctx.prefix, "order.created");
  await ensureGroup(ctx.redis, stream, "fast");
  await ensureGroup(ctx.redis, stream, "slow");
  const entries = await addEntries(stream, 10);
  // fast: everything delivered, all acked. slow: 6 delivered, entries 3..5 still pending, 6..9 undelivered.
  await read(stream, "fast", 10);
  await ctx.redis.xack(stream, "fast", ...entries);
  await read(stream, "slow", 6);
  await ctx.redis.xack(stream, "slow", ...entries.slice(0, 3));

  await trimStream(ctx.redis, stream);
  expect(await ids(stream)).toEqual(entries.slice(3));

  // The slow group catches up: only then do its entries go.
  await ctx.redis.xack(stream, "slow", ...entries.slice(3, 6));
  await trimStream(ctx.redis, stream);
  expect(await ids(stream)).toEqual(entries.slice(6));
  await read(stream, "slow", 10);
  await ctx.redis.xack(stream, "slow", ...entries.slice(6));
  await trimStream(ctx.redis, stream);
  expect(await ids(stream)).toEqual([]);
});

test("a stream with no groups is trimmed only below the given orphan min id", async () => {
  const stream = keys.stream(ctx.prefix, "audit.logged");
  const [a, b, c] = ["1000-0", "2000-0", "3000-0"] as const;
  for (const id of [a, b, c]) await ctx.redis.xadd(stream, id, "n", id);
  expect(await trimStream(ctx.redis, stream)).toBe(0);
  expect(await ids(stream)).toEqual([a, b, c]);
  expect(await trimStream(ctx.redis, stream, b)).toBe(1);
  expect(await ids(stream)).toEqual([b, c]);
});

test("a stream nobody subscribes to keeps its retention window", async () => {
  const stream = keys.stream(ctx.prefix, "audit.logged");
  const old = await ctx.redis.xadd(stream, `${Date.now() - 10_000}-0`, "n", "old");
  const recent = await ctx.redis.xadd(stream, "*", "n", "recent");
  await trimStreams(ctx.redis, ctx.prefix, 5_000);
  expect(await ids(stream)).toEqual([recent!]);
  expect(old).not.toBe(recent);
});

test("outbox retention deletes only old rows every subscribed handler processed, with their records", async () => {
  const subs = [
    { handler: "a", eventType: "user.created" },
    { handler: "b", eventType: "user.created" },
  ] as Subscription[];
  const insert = async (type: string, ageMs: number) => {
    const [row] = await ctx.sql<{ id: string }[]>`
      insert into outbox (event_type, payload, published_at) values (${type}, '{}', now() - ${ageMs} * interval '1 millisecond') returning id`;
    return row!.id;
  };
  const done = await insert("user.created", 60_000);
  const half = await insert("user.created", 60_000);
  const recent = await insert("user.created", 1_000);
  const unsubscribed = await insert("audit.logged", 60_000);
  const [unpublished] = await ctx.sql<{ id: string }[]>`
    insert into outbox (event_type, payload, created_at) values ('audit.logged', '{}', now() - interval '1 hour') returning id`;
  await ctx.sql`insert into processed_events (handler, event_id) values
    ('a', ${done}), ('b', ${done}), ('a', ${half}), ('a', ${recent}), ('b', ${recent})`;

  expect(await deleteProcessedOutboxRows(ctx.sql, subs, 30_000)).toBe(2);
  const left = (await ctx.sql`select id from outbox`).map((r) => r.id).sort();
  expect(left).toEqual([half, recent, unpublished!.id].sort());
  expect(left).not.toContain(unsubscribed);
  // The deleted row's records went with it; the kept rows' records stay.
  const records = (await ctx.sql`select handler, event_id from processed_events`).map((r) => `${r.handler}:${r.event_id}`);
  expect(records.sort()).toEqual([`a:${half}`, `a:${recent}`, `b:${recent}`].sort());
});

test("with no subscriptions anywhere, outbox retention deletes every old published row and no unpublished one", async () => {
  await ctx.sql`insert into outbox (event_type, payload, published_at) values ('user.created', '{}', now() - interval '1 hour')`;
  await ctx.sql`insert into outbox (event_type, payload, published_at) values ('user.created', '{}', now())`;
  await ctx.sql`insert into outbox (event_type, payload, created_at) values ('user.created', '{}', now() - interval '1 hour')`;
  expect(await deleteProcessedOutboxRows(ctx.sql, [], 30_000)).toBe(1);
  const [left] = await ctx.sql<{ published: number; unpublished: number }[]>`
    select count(published_at)::int as published, (count(*) - count(published_at))::int as unpublished from outbox`;
  expect(left).toEqual({ published: 1, unpublished: 1 });
});

test("idle consumers with nothing pending leave the group; one with pending entries never does", async () => {
  const stream = keys.stream(ctx.prefix, "user.created");
  await ensureGroup(ctx.redis, stream, "g");
  await addEntries(stream, 2);
  await ctx.redis.xreadgroup("GROUP", "g", "holder", "COUNT", 1, "STREAMS", stream, ">");
  await ctx.redis.xreadgroup("GROUP", "g", "idle", "COUNT", 1, "STREAMS", stream, ">");
  const [[idleEntry]] = (await ctx.redis.xpending(stream, "g", "-", "+", 10, "idle")) as [[string]];
  await ctx.redis.xack(stream, "g", idleEntry);
  await ctx.redis.xgroup("CREATECONSUMER", stream, "g", "me");
  await Bun.sleep(300);
  await ctx.redis.xgroup("CREATECONSUMER", stream, "g", "fresh"); // nothing pending, but not idle long enough

  expect(await removeStaleConsumers(ctx.redis, stream, "g", 250, "me")).toBe(1);
  const names = ((await ctx.redis.xinfo("CONSUMERS", stream, "g")) as string[][]).map((c) => c[1]).sort();
  expect(names).toEqual(["fresh", "holder", "me"]);
});

test("only one machine runs maintenance at a time", async () => {
  const a = await ctx.startEngine([], { parts: { relay: false, consumers: false, stats: false } });
  const b = await ctx.startEngine([], { parts: { relay: false, consumers: false, stats: false } });
  expect((await Promise.all([a.runMaintenance(), b.runMaintenance()])).sort()).toEqual([false, true]);
  expect(await ctx.redis.exists(keys.lock(ctx.prefix, "maintenance"))).toBe(0); // released after the run
  await ctx.redis.set(keys.lock(ctx.prefix, "maintenance"), "someone-else", "PX", 5_000);
  expect(await a.runMaintenance()).toBe(false);
  await ctx.redis.del(keys.lock(ctx.prefix, "maintenance"));
  expect(await b.runMaintenance()).toBe(true);
});

test("a stats line reports the outbox and, per stream, length, each group's pending and lag, and dead letters", async () => {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: "info", write: (line) => lines.push(JSON.parse(line)) });
  const stream = keys.stream(ctx.prefix, "user.created");
  await ensureGroup(ctx.redis, stream, "mailer");
  await addEntries(stream, 3);
  await read(stream, "mailer", 1);
  await ctx.redis.hincrby(keys.deadLetterCounts(ctx.prefix), "user.created", 2);
  await ctx.sql`insert into outbox (event_type, payload) values ('user.created', '{}')`;
  await ctx.startEngine([], { log, env: { STATS_INTERVAL_MS: "200" }, parts: { relay: false, consumers: false, maintenance: false } });
  const stats = await waitFor("stats line", () => lines.find((l) => l.msg === "stats"));
  expect(stats.outbox).toMatchObject({ pending: 1, published: 0 });
  expect(stats.streams).toEqual([
    { eventType: "user.created", length: 3, groups: [{ handler: "mailer", pending: 1, lag: 2 }], deadLettered: 2 },
  ]);
});

test("retention on a machine without handlers keeps rows another machine's handler has not processed", async () => {
  const stream = keys.stream(ctx.prefix, "user.created");
  await ensureGroup(ctx.redis, stream, "mailer"); // subscribed elsewhere in the fleet
  const [row] = await ctx.sql<{ id: string }[]>`
    insert into outbox (event_type, payload, published_at) values ('user.created', '{}', now() - interval '1 hour') returning id`;
  const relayOnly = await ctx.startEngine([], { env: { OUTBOX_RETENTION: "1s" }, parts: { relay: false, consumers: false, stats: false } });
  expect(await relayOnly.runMaintenance()).toBe(true);
  expect((await ctx.sql`select id from outbox`).length).toBe(1);
  await ctx.sql`insert into processed_events (handler, event_id) values ('mailer', ${row!.id})`;
  expect(await relayOnly.runMaintenance()).toBe(true);
  expect((await ctx.sql`select id from outbox`).length).toBe(0);
});
