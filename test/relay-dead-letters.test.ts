// Rows the relay can never publish (an unknown or reserved event type, a stream key of the wrong
// type) are dead-lettered by the relay itself and never hold back the rows behind them.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { z } from "zod";
import { subscribe } from "../src/engine/delivery/subscribe.ts";
import { keys } from "../src/engine/redis/keys.ts";
import { startTestApi } from "./support/api.ts";
import { createTestContext, deleteKeys, insertOutboxRow, waitFor, type TestContext } from "./support/context.ts";
import { readDeadLetters, recordEffect } from "./support/effects.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(() => ctx.cleanup());

const steady = subscribe({ handler: "steady", eventType: "job.run", schema: z.object({ n: z.number() }), handle: async (e, c) => void (await recordEffect(c, e.id)) });
const effects = async () => (await ctx.sql<{ event_id: string }[]>`select event_id::text from effects order by at`).map((r) => r.event_id);
const relayLetters = () => ctx.sql<{ id: string; event_id: string; event_type: string; reason: string; error: string; status: string }[]>`
  select id, event_id::text, event_type, reason, error, status from dead_letters where handler = 'relay' order by failed_at, event_type`;
const outboxRow = async (id: string) => (await ctx.sql<{ published: boolean; stream_id: string | null }[]>`
  select published_at is not null as published, stream_id from outbox where id = ${id}`)[0]!;

test("rows of an unknown or reserved event type are dead-lettered by the relay with a clear reason, and the valid rows behind them are processed", async () => {
  const typo = await insertOutboxRow(ctx.sql, "job.rnu", { n: 0 }); // oldest: first in every batch
  const reserved = await insertOutboxRow(ctx.sql, "dlq", { n: 0 });
  const good: string[] = [];
  for (let n = 1; n <= 3; n++) good.push(await insertOutboxRow(ctx.sql, "job.run", { n }));
  await ctx.startEngine([steady], { knownEventTypes: ["job.run"], env: { RELAY_BATCH_SIZE: "2" } });
  await waitFor("valid rows processed", async () => (await effects()).length === 3);
  expect((await effects()).sort()).toEqual([...good].sort());

  const letters = await waitFor("two relay dead letters", async () => ((await relayLetters()).length === 2 ? relayLetters() : null));
  const byEvent = Object.fromEntries(letters.map((l) => [l.event_id, l]));
  expect(byEvent[typo]).toMatchObject({ event_type: "job.rnu", reason: "unknown_event_type", status: "open", error: expect.stringContaining('"job.rnu" has no handler') });
  expect(byEvent[reserved]).toMatchObject({ event_type: "dlq", reason: "unpublishable", status: "open", error: expect.stringContaining('"dlq" is reserved') });
  expect(await outboxRow(typo)).toEqual({ published: true, stream_id: null });
  expect(await ctx.redis.exists(keys.stream(ctx.prefix, "job.rnu"))).toBe(0);
  // Listed like any dead letter, with a Redis copy each.
  const api = await startTestApi(ctx, { engine: false });
  const listed = (await api.call("GET", "/dlq?handler=relay")).body.items;
  expect(listed.map((i: { eventId: string }) => i.eventId).sort()).toEqual([typo, reserved].sort());
  expect((await readDeadLetters(ctx)).filter((c) => c.handler === "relay").length).toBe(2);
});

test("an event type this process does not know is still published when a consumer group reads its stream (a newer version's handler)", async () => {
  await ctx.redis.xgroup("CREATE", keys.stream(ctx.prefix, "job.new"), "newer", "0", "MKSTREAM");
  const id = await insertOutboxRow(ctx.sql, "job.new", { n: 1 });
  await ctx.startEngine([steady], { knownEventTypes: ["job.run"] });
  await waitFor("published", async () => (await outboxRow(id)).stream_id !== null);
  expect([...(await relayLetters())]).toEqual([]);
});

test("retrying a relay dead letter puts its row back in the relay's queue; deleting one only resolves it, even across a Redis data loss", async () => {
  // A stream key that holds something else: every job.run row is refused until it is fixed.
  await ctx.redis.set(keys.stream(ctx.prefix, "job.run"), "not a stream");
  const blocked = await insertOutboxRow(ctx.sql, "job.run", { n: 1 });
  const typo = await insertOutboxRow(ctx.sql, "job.rnu", { n: 2 });
  const engine = await ctx.startEngine([steady], { knownEventTypes: ["job.run"] });
  const api = await startTestApi(ctx, { engine: false });
  const letters = await waitFor("both set aside", async () => ((await relayLetters()).length === 2 ? relayLetters() : null));
  const letterOf = (eventId: string) => letters.find((l) => l.event_id === eventId)!;
  expect(letterOf(blocked)).toMatchObject({ reason: "unpublishable", error: expect.stringContaining("WRONGTYPE") });

  await ctx.redis.del(keys.stream(ctx.prefix, "job.run"));
  const retried = await api.call("POST", `/dlq/${letterOf(blocked).id}/retry`);
  expect(retried.status).toBe(202);
  expect(retried.body).toMatchObject({ status: "retried", entryId: null });
  await waitFor("processed once published", async () => (await effects()).includes(blocked), 20_000);
  expect((await outboxRow(blocked)).stream_id).not.toBeNull();

  expect((await api.call("DELETE", `/dlq/${letterOf(typo).id}`)).status).toBe(204);
  expect(await outboxRow(typo)).toEqual({ published: true, stream_id: null });
  expect([...(await ctx.sql`select 1 from processed_events where handler = 'relay'`)]).toEqual([]);
  expect((await api.call("GET", "/dlq?handler=relay")).body.items).toEqual([]);

  // Redis losing its data does not bring the deleted row back.
  // Keys go one by one, so a check may see part of the loss first (a partition's sentinel before
  // the whole Redis's): whatever it calls it, a recovery that started after the loss must finish.
  const lostAt = Date.now();
  await deleteKeys(ctx.redis, `${ctx.prefix}:*`);
  await waitFor("recovered", () => {
    const { last, lastError, running } = engine.status().recovery ?? {};
    return !!last && new Date(last.at).getTime() >= lostAt && !running && (lastError ?? null) === null;
  }, 25_000);
  expect(await ctx.redis.exists(keys.stream(ctx.prefix, "job.rnu"))).toBe(0);
  expect((await api.call("GET", "/dlq?handler=relay")).body.items).toEqual([]);
  expect(await effects()).toEqual([blocked]);
});

test("retrying a relay dead letter whose outbox row the retention deleted writes the row back", async () => {
  const typo = await insertOutboxRow(ctx.sql, "job.rnu", { n: 7 });
  await ctx.startEngine([steady], { knownEventTypes: ["job.run"], env: { RELAY_CRON: "0 0 1 1 *" } });
  const api = await startTestApi(ctx, { engine: false });
  const [letter] = await waitFor("set aside", async () => ((await relayLetters()).length === 1 ? relayLetters() : null));
  await ctx.sql`delete from outbox where id = ${typo}`; // what OUTBOX_RETENTION does to a row nobody subscribes to
  expect((await api.call("POST", `/dlq/${letter!.id}/retry`)).status).toBe(202);
  const [row] = await ctx.sql<{ event_type: string; payload: { n: number }; published_at: Date | null }[]>`select event_type, payload, published_at from outbox where id = ${typo}`;
  expect(row).toMatchObject({ event_type: "job.rnu", payload: { n: 7 }, published_at: null });
});

test("during a rolling deploy, rows of a type only the new machines' code knows wait for them instead of being set aside, and never hold back the rest", async () => {
  const newType = "shiny.new";
  // A machine already on the new code: it knows the new type (its consumers have not started yet).
  const newMachine = await ctx.startEngine([], {
    knownEventTypes: ["job.run", newType], env: { CONSUMER_NAME: `${ctx.prefix}-new` },
    parts: { relay: false, consumers: false, maintenance: false, stats: false, recovery: false },
  });
  const waiting = await insertOutboxRow(ctx.sql, newType, { n: 0 }); // oldest: first in every batch
  const good: string[] = [];
  for (let n = 1; n <= 3; n++) good.push(await insertOutboxRow(ctx.sql, "job.run", { n }));
  // A machine still on the old code, with a small batch so the waiting row would block it.
  await ctx.startEngine([steady], { knownEventTypes: ["job.run"], env: { RELAY_BATCH_SIZE: "1" } });
  await waitFor("the old machine's rows processed", async () => (await effects()).length === 3);
  await Bun.sleep(1_200); // another relay tick
  expect((await relayLetters()).length).toBe(0);
  expect(await outboxRow(waiting)).toEqual({ published: false, stream_id: null });

  // Once no machine knows the type any more, it is what it always was: a typo, set aside.
  await newMachine.stop();
  await waitFor("the row set aside", async () => (await relayLetters()).length === 1);
  expect((await relayLetters())[0]).toMatchObject({ event_id: waiting, reason: "unknown_event_type" });
});
