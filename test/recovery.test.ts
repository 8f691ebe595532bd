// Redis losing data (every key, one consumer group) while events are pending, in flight,
// dead-lettered and unpublished: the engine notices on its own and recovers from the outbox.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { z } from "zod";
import type { Engine } from "../src/engine/index.ts";
import { UnrecoverableError } from "../src/engine/support/errors.ts";
import { subscribe, type HandlerContext } from "../src/engine/delivery/subscribe.ts";
import { keys } from "../src/engine/redis/keys.ts";
import { createTestContext, insertOutboxRow, waitFor, type TestContext } from "./support/context.ts";
import { readDeadLetters, recordEffect } from "./support/effects.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(() => ctx.cleanup());

const NEVER = "0 0 1 1 *";
const job = z.object({ n: z.number() });

/** What losing Redis's data looks like to this test: every key under its prefix is gone. */
async function wipeRedis(): Promise<number> {
  let cursor = "0";
  let deleted = 0;
  do {
    const [next, found] = await ctx.redis.scan(cursor, "MATCH", `${ctx.prefix}:*`, "COUNT", 1000);
    cursor = next;
    if (found.length) deleted += await ctx.redis.del(...found);
  } while (cursor !== "0");
  return deleted;
}

/**
 * Three handlers on job.run: `steady` always works; `picky` refuses n < 0 (dead-lettered at once);
 * `flaky` fails while `failing` is set. n = 99 makes `steady` wait for `release()` (in flight).
 */
function world() {
  const runs = new Map<string, number>();
  const state = { failing: true };
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const count = (handler: string, id: string) => runs.set(`${handler}:${id}`, (runs.get(`${handler}:${id}`) ?? 0) + 1);
  const handle = async (e: { id: string; payload: { n: number } }, c: HandlerContext) => {
    count(c.handler, e.id);
    if (c.handler === "picky" && e.payload.n < 0) throw new UnrecoverableError(`picky refuses ${e.payload.n}`);
    if (c.handler === "flaky" && state.failing) throw new Error("flaky is down");
    if (c.handler === "steady" && e.payload.n === 99) await gate;
    await recordEffect(c, e.id);
  };
  const on = (handler: string) => subscribe({ handler, eventType: "job.run", schema: job, handle, options: { backoff: { initialMs: 100, multiplier: 2, maxMs: 300 } } });
  return { runs, state, release, subs: [on("steady"), on("picky"), on("flaky")] };
}

const effects = async () =>
  (await ctx.sql<{ handler: string; event_id: string; n: number }[]>`select handler, event_id::text, count(*)::int as n from effects group by 1, 2`)
    .map((r) => `${r.handler}:${r.event_id}:${r.n}`).sort();
const expected = (pairs: [string, string][]) => pairs.map(([h, id]) => `${h}:${id}:1`).sort();
const recovered = (engine: Engine) => engine.status().recovery?.last ?? null;

test("Redis losing every key while events are pending, in flight, dead-lettered and unpublished: each handler applies each event once, dead letters come back and are not run again", async () => {
  const w = world();
  const engine = await ctx.startEngine(w.subs, { env: { RELAY_CRON: NEVER } });
  await engine.consumersStarted;
  const done = await insertOutboxRow(ctx.sql, "job.run", { n: 1 });
  const refused = await insertOutboxRow(ctx.sql, "job.run", { n: -1 });
  const inFlight = await insertOutboxRow(ctx.sql, "job.run", { n: 99 });
  engine.relay!.wake();
  await waitFor("refused dead-lettered, done processed, flaky retrying, steady in flight", async () => {
    const [dl] = await ctx.sql`select 1 from dead_letters where handler = 'picky' and dlq_entry_id is not null`;
    return dl && w.runs.get(`steady:${inFlight}`) === 1 && (w.runs.get(`flaky:${done}`) ?? 0) >= 1 && (await effects()).includes(`picky:${done}:1`);
  });
  const unpublished = await insertOutboxRow(ctx.sql, "job.run", { n: 2 }); // no wake, no schedule: stays in the outbox
  const [letter] = await ctx.sql<{ id: string }[]>`select id from dead_letters where handler = 'picky'`;
  const refusedRuns = w.runs.get(`picky:${refused}`); // a failed batch runs its entries again one by one

  expect(await wipeRedis()).toBeGreaterThan(0);
  await waitFor("recovery", () => recovered(engine)?.reason === "missing" && recovered(engine));
  engine.relay!.wake();
  w.state.failing = false;
  w.release();

  const all = [done, refused, inFlight, unpublished];
  const want = expected([
    ...all.map((id) => ["steady", id] as [string, string]),
    ...all.filter((id) => id !== refused).map((id) => ["picky", id] as [string, string]),
    ...all.map((id) => ["flaky", id] as [string, string]),
  ]);
  await waitFor("every effect", async () => JSON.stringify(await effects()) === JSON.stringify(want), 30_000);
  await Bun.sleep(500); // a duplicate delivery still on its way would show up here
  expect(await effects()).toEqual(want);
  expect(w.runs.get(`picky:${refused}`)).toBe(refusedRuns!); // dead-lettered before the loss: never run again

  // The dead letter is still open, and its Redis copy and count are back.
  const [row] = await ctx.sql<{ status: string; dlq_entry_id: string }[]>`select status, dlq_entry_id from dead_letters where id = ${letter!.id}`;
  expect(row!.status).toBe("open");
  const copies = await readDeadLetters(ctx);
  expect(copies.map((c) => [c.id, c.eventId, c.handler])).toEqual([[letter!.id, refused, "picky"]]);
  const [[copyId]] = (await ctx.redis.xrange(keys.deadLetters(ctx.prefix), "-", "+")) as unknown as [[string]];
  expect(row!.dlq_entry_id).toBe(copyId);
  expect(await ctx.redis.hget(keys.deadLetterCounts(ctx.prefix), "job.run")).toBe("1");
  expect(await ctx.redis.exists(keys.epoch(ctx.prefix))).toBe(1);
});

test("a consumer group deleted alone is recreated at the stream's end: what it still needed is re-published, what it settled or dead-lettered is not run again", async () => {
  const w = world();
  const engine = await ctx.startEngine(w.subs, { env: { RELAY_CRON: NEVER } });
  await engine.consumersStarted;
  const done = await insertOutboxRow(ctx.sql, "job.run", { n: 1 });
  const refused = await insertOutboxRow(ctx.sql, "job.run", { n: -1 });
  engine.relay!.wake();
  await waitFor("picky settled both, flaky retrying", async () =>
    (await ctx.sql`select 1 from dead_letters where handler = 'picky' and dlq_entry_id is not null`).length === 1 &&
    (await effects()).includes(`picky:${done}:1`) && (w.runs.get(`flaky:${done}`) ?? 0) >= 1 && (w.runs.get(`flaky:${refused}`) ?? 0) >= 1);
  const runsBefore = { done: w.runs.get(`picky:${done}`), refused: w.runs.get(`picky:${refused}`) };
  const before = recovered(engine);

  const stream = keys.stream(ctx.prefix, "job.run");
  await ctx.redis.xgroup("DESTROY", stream, "picky");
  await ctx.redis.xgroup("DESTROY", stream, "flaky");
  await waitFor("recovery after the groups were found missing", () => recovered(engine) !== before && recovered(engine));
  w.state.failing = false;
  const later = await insertOutboxRow(ctx.sql, "job.run", { n: 3 });
  engine.relay!.wake();

  const want = expected([
    ["steady", done], ["steady", refused], ["steady", later],
    ["picky", done], ["picky", later],
    ["flaky", done], ["flaky", refused], ["flaky", later],
  ]);
  await waitFor("every effect", async () => JSON.stringify(await effects()) === JSON.stringify(want), 30_000);
  await Bun.sleep(500);
  expect(await effects()).toEqual(want);
  expect({ done: w.runs.get(`picky:${done}`), refused: w.runs.get(`picky:${refused}`) }).toEqual(runsBefore);
  expect(w.runs.get(`steady:${done}`)).toBe(1); // steady kept its group: nothing re-sent to it
  const groups = (await ctx.redis.xinfo("GROUPS", stream)) as unknown[][];
  expect(groups.map((g) => String(g[1])).sort()).toEqual(["flaky", "picky", "steady"]);
});

test("two engines finding Redis empty at once: one recovers, and each event is applied once per handler", async () => {
  const w = world();
  w.state.failing = false;
  const env = (name: string) => ({ RELAY_CRON: NEVER, CONSUMER_NAME: `${ctx.prefix}-${name}` });
  const a = await ctx.startEngine(w.subs, { env: env("a") });
  const b = await ctx.startEngine(w.subs, { env: env("b") });
  await Promise.all([a.consumersStarted, b.consumersStarted]);
  // Published, then lost before any handler ran: the relay-only view of a crash.
  const ids: string[] = [];
  for (let n = 0; n < 20; n++) ids.push(await insertOutboxRow(ctx.sql, "job.run", { n }));
  await ctx.sql`update outbox set published_at = now(), stream_id = '1-1'`;
  const [startA, startB] = [recovered(a), recovered(b)];
  await wipeRedis();
  await Promise.all([a.relay!.wake(), b.relay!.wake()]);

  const want = expected(ids.flatMap((id) => [["steady", id], ["picky", id], ["flaky", id]] as [string, string][]));
  await waitFor("every effect", async () => JSON.stringify(await effects()) === JSON.stringify(want), 30_000);
  await Bun.sleep(500);
  expect(await effects()).toEqual(want);
  const ran = [recovered(a) !== startA ? recovered(a) : null, recovered(b) !== startB ? recovered(b) : null].filter(Boolean);
  // One of them recovered (a consumer finding its group gone may make it run once more: that run
  // re-publishes only what is still unsettled, and processed_events absorbs it).
  expect(ran.length).toBeGreaterThanOrEqual(1);
  expect(ran.some((r) => r!.republishedEvents > 0)).toBe(true);
});

test("Redis kept its data: the recovery check re-publishes nothing and leaves delivery alone", async () => {
  const w = world();
  w.state.failing = false;
  const engine = await ctx.startEngine(w.subs);
  await engine.consumersStarted;
  const id = await insertOutboxRow(ctx.sql, "job.run", { n: 5 });
  await waitFor("processed", async () => (await effects()).length === 3);
  // What a restart with persistence looks like to the watcher: the sentinel names another run id.
  await ctx.redis.set(keys.epoch(ctx.prefix), JSON.stringify({ runId: "0000", recoveredAt: "", by: "test" }));
  await waitFor("verified", () => recovered(engine)?.reason === "restarted" && recovered(engine));
  expect(recovered(engine)).toMatchObject({ republishedEvents: 0, restoredDeadLetters: 0, recreatedGroups: 0 });
  expect(await effects()).toEqual(expected([["steady", id], ["picky", id], ["flaky", id]]));
});
