// A handler added to an event type that already has history starts from its first start: it does
// not get a week of old events (now, or later from a recovery), and retention does not wait for
// it to process them. With `backfill` it asks for that history once, on purpose.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { z } from "zod";
import { subscribe, type HandlerContext } from "../src/engine/index.ts";
import { createTestContext, insertOutboxRow, waitFor, type TestContext } from "./support/context.ts";
import { recordEffect } from "./support/effects.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(() => ctx.cleanup());

const job = z.object({ n: z.number() });
const handle = async (e: { id: string }, c: HandlerContext) => void (await recordEffect(c, e.id));
const on = (handler: string, backfill = false) => subscribe({ handler, eventType: "job.run", schema: job, handle, backfill });
const ran = async (handler: string) => (await ctx.sql<{ event_id: string }[]>`select event_id::text from effects where handler = ${handler}`).map((r) => r.event_id).sort();

async function wipeRedis(): Promise<void> {
  let cursor = "0";
  do {
    const [next, found] = await ctx.redis.scan(cursor, "MATCH", `${ctx.prefix}:*`, "COUNT", 1000);
    cursor = next;
    if (found.length) await ctx.redis.del(...found);
  } while (cursor !== "0");
}

test("a handler added to a type with history gets only the events published after it started, also after Redis loses its data, and retention does not wait for it", async () => {
  const first = await ctx.startEngine([on("old")]);
  const history: string[] = [];
  for (let n = 0; n < 5; n++) history.push(await insertOutboxRow(ctx.sql, "job.run", { n }));
  await waitFor("the old handler's history", async () => (await ran("old")).length === 5);
  await first.stop();

  const second = await ctx.startEngine([on("old"), on("newcomer")]);
  await second.consumersStarted;
  const fresh = [await insertOutboxRow(ctx.sql, "job.run", { n: 10 }), await insertOutboxRow(ctx.sql, "job.run", { n: 11 })];
  await waitFor("both handlers ran the new events", async () => (await ran("newcomer")).length === 2 && (await ran("old")).length === 7);
  expect(await ran("newcomer")).toEqual([...fresh].sort());

  // Redis loses everything: the recovery re-publishes what each handler answers for and lacks, nothing more.
  await wipeRedis();
  await waitFor("the recovery", () => second.status().recovery?.last?.reason === "missing");
  await Bun.sleep(1_000);
  expect(await ran("newcomer")).toEqual([...fresh].sort());

  // A week later the old rows go: the newcomer never answered for them.
  await ctx.sql`update outbox set published_at = now() - interval '8 days' where id = any(${history}::uuid[])`;
  expect(await second.runMaintenance()).toBe(true);
  expect((await ctx.sql`select 1 from outbox where id = any(${history}::uuid[])`).length).toBe(0);
});

test("a handler added with backfill gets every event of its type still in the outbox, once", async () => {
  const first = await ctx.startEngine([on("old")]);
  const history: string[] = [];
  for (let n = 0; n < 5; n++) history.push(await insertOutboxRow(ctx.sql, "job.run", { n }));
  await waitFor("the history processed", async () => (await ran("old")).length === 5);
  await first.stop();
  const second = await ctx.startEngine([on("old"), on("archivist", true)]);
  await waitFor("the backfill", async () => (await ran("archivist")).length === 5);
  expect(await ran("archivist")).toEqual([...history].sort());
  await second.stop();
  // Its next start takes nothing again.
  await ctx.startEngine([on("old"), on("archivist", true)]);
  await Bun.sleep(1_000);
  expect((await ran("archivist")).length).toBe(5);
});
