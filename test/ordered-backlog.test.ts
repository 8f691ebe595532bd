import { afterEach, beforeEach, expect, test } from "bun:test";
import { z } from "zod";
import { subscribe } from "../src/engine/delivery/subscribe.ts";
import { readTurn } from "../src/engine/outbox/ordered-backlog.ts";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { recordEffect } from "./support/effects.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(() => ctx.cleanup());

const schema = z.object({ step: z.number() });
const ordered = (eventType: string) =>
  subscribe({ handler: "audit", eventType, schema, ordered: true, handle: async (e, c) => void (await recordEffect(c, e.id, String(e.payload.step))) });

/** One row per (aggregate, step), written one after another; types alternate, the later type outranking the earlier. */
async function writeSteps(aggregates: number, steps: number): Promise<void> {
  for (let s = 0; s < steps; s++) {
    for (let a = 0; a < aggregates; a++) {
      await ctx.sql`insert into outbox (event_type, aggregate_id, payload, priority)
        values (${s % 2 === 0 ? "order.step" : "order.other"}, ${`agg-${a}`}, ${JSON.stringify({ step: s })}::jsonb, ${s % 2 === 0 ? 0 : 10})`;
    }
  }
}

test("the relay lists what an ordered handler owes per key in outbox order, across types, priorities and partitions", async () => {
  // The relay alone: priorities would publish order.other first, the backlog keeps outbox order.
  await ctx.startEngine([ordered("order.step"), ordered("order.other")], {
    partitions: { count: 4 }, parts: { consumers: false, recovery: false }, priorities: { "order.other": 10 },
  });
  await writeSteps(5, 6);
  await waitFor("all published", async () => (await ctx.sql`select 1 from outbox where published_at is null`).length === 0);
  const rows = await ctx.sql<{ partition_key: string; steps: number[] }[]>`
    select b.partition_key, array_agg((o.payload->>'step')::int order by b.position) as steps
    from ordered_backlog b join outbox o on o.id = b.event_id where b.handler = 'audit' group by b.partition_key order by 1`;
  expect(rows.map((r) => r.partition_key)).toEqual(["agg-0", "agg-1", "agg-2", "agg-3", "agg-4"]);
  for (const r of rows) expect(r.steps).toEqual([0, 1, 2, 3, 4, 5]);

  const [first, second] = await ctx.sql<{ event_id: string }[]>`
    select event_id from ordered_backlog where handler = 'audit' and partition_key = 'agg-0' order by position limit 2`;
  const agg0 = { handler: "audit", eventType: "order.step", key: "agg-0" };
  expect((await readTurn(ctx.sql, agg0, first!.event_id)).state).toEqual({ kind: "head" });
  expect((await readTurn(ctx.sql, agg0, second!.event_id)).state).toEqual({ kind: "behind", first: first!.event_id });
});

test("an ordered handler's transaction settles what it owed; unordered handlers owe nothing", async () => {
  const engine = await ctx.startEngine([
    ordered("order.step"),
    subscribe({ handler: "loose", eventType: "order.step", schema, handle: async (e, c) => void (await recordEffect(c, e.id)) }),
  ]);
  await writeSteps(3, 2);
  await waitFor("all effects", async () => Number((await ctx.sql`select count(*)::int as n from effects`)[0]!.n) === 6);
  // Settled with each run, or (a run that beat the relay's commit) no longer counted and pruned.
  const owed = await ctx.sql<{ event_id: string }[]>`select event_id from ordered_backlog where handler = 'audit'`;
  for (const { event_id } of owed) expect((await readTurn(ctx.sql, { handler: "audit", eventType: "order.step", key: "agg-0" }, event_id)).state.kind).toBe("head");
  expect(await engine.runMaintenance()).toBe(true);
  expect((await ctx.sql`select 1 from ordered_backlog`).length).toBe(0);
});

test("events of one key written in one transaction keep the order they were inserted in, although they share created_at", async () => {
  await ctx.startEngine([ordered("order.step"), ordered("order.other")], { parts: { consumers: false, recovery: false } });
  await ctx.sql.begin(async (tx) => {
    for (let s = 0; s < 12; s++) {
      await tx`insert into outbox (event_type, aggregate_id, payload) values (${s % 2 === 0 ? "order.step" : "order.other"}, 'agg-1', ${JSON.stringify({ step: s })}::jsonb)`;
    }
    // New row versions with new index entries, last first, so table and index hold them in
    // reverse (as rows written into a page freed by a vacuum may be): order by created_at alone
    // would come back in whatever order the rows lie in.
    for (let s = 11; s >= 0; s--) {
      await tx`update outbox set published_at = now() where (payload->>'step')::int = ${s}`;
      await tx`update outbox set published_at = null where (payload->>'step')::int = ${s}`;
    }
  });
  await waitFor("all published", async () => (await ctx.sql`select 1 from outbox where published_at is null`).length === 0);
  const [row] = await ctx.sql<{ steps: number[] }[]>`
    select array_agg((o.payload->>'step')::int order by b.position) as steps
    from ordered_backlog b join outbox o on o.id = b.event_id where b.handler = 'audit' and b.partition_key = 'agg-1'`;
  expect(row!.steps).toEqual(Array.from({ length: 12 }, (_, s) => s));
});
