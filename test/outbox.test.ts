import { afterEach, beforeEach, expect, test } from "bun:test";
import { sql as dsql } from "drizzle-orm";
import { createDatabase } from "../src/db/client.ts";
import { createRedis } from "../src/engine/index.ts";
import { drainOutbox } from "../src/engine/outbox/relay.ts";
import { commitWithEvents, writeEvent } from "../src/engine/outbox/write-event.ts";
import { subscribe } from "../src/engine/delivery/subscribe.ts";
import { keys } from "../src/engine/redis/keys.ts";
import { z } from "zod";
import { createTestContext, insertOutboxRow, waitFor, type TestContext } from "./support/context.ts";
import { fieldsOf, recordEffect } from "./support/effects.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(() => ctx.cleanup());


test("a row inserted by plain SQL is published with its id, type, ids, occurredAt and payload", async () => {
  const [row] = await ctx.sql<{ id: string; created_at: Date }[]>`
    insert into outbox (event_type, aggregate_id, tenant_id, payload)
    values ('order.created', 'o-1', 'tenant-1', '{"orderId": "o-1", "total": 12.5}') returning id, created_at`;
  await ctx.startEngine([], { parts: { consumers: false, maintenance: false, stats: false } });
  const stream = keys.stream(ctx.prefix, "order.created");
  const [[entryId, raw]] = await waitFor("entry", async () => {
    const entries = await ctx.redis.xrange(stream, "-", "+");
    return entries.length ? (entries as [[string, string[]]]) : null;
  });
  const f = fieldsOf(raw);
  expect(f).toMatchObject({ id: row!.id, type: "order.created", aggregateId: "o-1", tenantId: "tenant-1" });
  expect(JSON.parse(f.payload!)).toEqual({ orderId: "o-1", total: 12.5 });
  expect(Date.parse(f.occurredAt!)).toBe(new Date(row!.created_at).getTime());
  const [published] = await ctx.sql`select published_at, stream_id from outbox where id = ${row!.id}`;
  expect(published!.published_at).not.toBeNull();
  expect(published!.stream_id).toBe(entryId);
});

test("an event written in a rolled-back transaction is never published; a committed one is, at once", async () => {
  // The schedule never fires during the test: only the post-commit wake can publish.
  const engine = await ctx.startEngine([], { env: { RELAY_CRON: "0 0 1 1 *" }, parts: { consumers: false, maintenance: false, stats: false } });
  await waitFor("initial relay run", () => engine.relay!.status().lastRunAt !== null);
  await ctx.db
    .transaction(async (tx) => {
      await writeEvent(tx, { eventType: "user.created", payload: { userId: "ghost" } });
      throw new Error("business rule failed");
    })
    .catch(() => {});
  const written = await commitWithEvents(ctx.db, engine.relay!, (tx) => writeEvent(tx, { eventType: "user.created", payload: { userId: "real" } }));
  const stream = keys.stream(ctx.prefix, "user.created");
  await waitFor("woken relay", async () => (await ctx.redis.xlen(stream)) === 1);
  const [[, raw]] = (await ctx.redis.xrange(stream, "-", "+")) as [[string, string[]]];
  expect(fieldsOf(raw).id).toBe(written.id);
  const [count] = await ctx.sql`select count(*)::int as n from outbox`;
  expect(count!.n).toBe(1);
});

test("a repeated idempotencyKey returns the existing event instead of failing", async () => {
  const first = await ctx.db.transaction((tx) => writeEvent(tx, { eventType: "user.created", payload: { userId: "u1" }, idempotencyKey: "signup:u1" }));
  const again = await ctx.db.transaction((tx) => writeEvent(tx, { eventType: "user.created", payload: { userId: "u1" }, idempotencyKey: "signup:u1" }));
  expect(first.duplicate).toBe(false);
  expect(again).toMatchObject({ id: first.id, duplicate: true });
  const rows = await ctx.db.execute(dsql`select id from outbox where idempotency_key = 'signup:u1'`);
  expect(rows.length).toBe(1);
});

test("two relays draining 5,000 rows at the same time publish every row exactly once", async () => {
  await ctx.sql`
    insert into outbox (event_type, payload)
    select 'bulk.loaded', jsonb_build_object('n', g) from generate_series(1, 5000) g`;
  const other = createDatabase(ctx.databaseUrl, { max: 2 });
  const redisB = ctx.redis.duplicate();
  try {
    const relay = { prefix: ctx.prefix, batchSize: 200 };
    const [a, b] = await Promise.all([
      drainOutbox({ ...relay, sql: ctx.sql, redis: ctx.redis }),
      drainOutbox({ ...relay, sql: other.sql, redis: redisB }),
    ]);
    // drainOutbox stops at the first short batch; finish anything a racing relay left behind.
    const rest = await drainOutbox({ ...relay, sql: ctx.sql, redis: ctx.redis });
    expect(a + b + rest).toBe(5000);
  } finally {
    await other.sql.end();
    redisB.disconnect();
  }
  const stream = keys.stream(ctx.prefix, "bulk.loaded");
  expect(await ctx.redis.xlen(stream)).toBe(5000);
  const ids = new Set((await ctx.redis.xrange(stream, "-", "+")).map(([, f]) => fieldsOf(f).id));
  expect(ids.size).toBe(5000);
  const [left] = await ctx.sql`select count(*)::int as n from outbox where published_at is null`;
  expect(left!.n).toBe(0);
});

test("a row the relay cannot publish because Redis is down stays unpublished and goes out once Redis is back", async () => {
  const down = createRedis("redis://127.0.0.1:1");
  try {
    const id = await insertOutboxRow(ctx.sql, "user.created", { n: 1 });
    await expect(drainOutbox({ sql: ctx.sql, redis: down, prefix: ctx.prefix, batchSize: 10 })).rejects.toThrow(/XADD failed/);
    const [row] = await ctx.sql`select published_at from outbox where id = ${id}`;
    expect(row!.published_at).toBeNull();
    expect([...(await ctx.sql`select 1 from dead_letters`)]).toEqual([]); // an outage dead-letters nothing
    expect(await drainOutbox({ sql: ctx.sql, redis: ctx.redis, prefix: ctx.prefix, batchSize: 10 })).toBe(1);
    expect(await ctx.redis.xlen(keys.stream(ctx.prefix, "user.created"))).toBe(1);
  } finally {
    down.disconnect();
  }
});

test("two machines relaying and consuming 5,000 rows at once deliver every event to the handler exactly once", async () => {
  const sub = subscribe({
    handler: "counter", eventType: "bulk.loaded", schema: z.object({ n: z.number() }),
    handle: async (e, c) => void (await recordEffect(c, e.id)),
  });
  await ctx.sql`
    insert into outbox (event_type, payload)
    select 'bulk.loaded', jsonb_build_object('n', g) from generate_series(1, 5000) g`;
  await ctx.startEngine([sub], { env: { CONSUMER_NAME: `${ctx.prefix}-a` }, parts: { maintenance: false, stats: false } });
  await ctx.startEngine([sub], { env: { CONSUMER_NAME: `${ctx.prefix}-b` }, parts: { maintenance: false, stats: false } });
  await waitFor("every event handled", async () => {
    const [r] = await ctx.sql`select count(*)::int as n from effects`;
    return r!.n >= 5000;
  }, 60_000, 200);
  const [r] = await ctx.sql`select count(*)::int as n, count(distinct event_id)::int as d from effects`;
  expect(r).toEqual({ n: 5000, d: 5000 });
  expect(await ctx.redis.xlen(keys.stream(ctx.prefix, "bulk.loaded"))).toBe(5000);
});
