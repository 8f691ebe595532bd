// Dead letters and retention must never let an event run twice for one handler.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { z } from "zod";
import { subscribe, UnrecoverableError, type HandlerContext } from "../src/engine/index.ts";
import { keys } from "../src/engine/redis/keys.ts";
import { startTestApi } from "./support/api.ts";
import { createTestContext, insertOutboxRow, waitFor, type TestContext } from "./support/context.ts";
import { readDeadLetters, recordEffect } from "./support/effects.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(() => ctx.cleanup());

const userCreated = z.object({ userId: z.string() });
const effects = async () => Number((await ctx.sql`select count(*)::int as n from effects`)[0]!.n);
const statusOf = async (id: string) => (await ctx.sql<{ status: string }[]>`select status from dead_letters where id = ${id}`)[0]?.status;

/** A handler that fails for good while `failing` holds, then works. */
function flaky() {
  const state = { failing: true };
  const sub = subscribe({
    handler: "mailer", eventType: "user.created", schema: userCreated, options: { maxAttempts: 1 },
    handle: async (e, c: HandlerContext) => {
      if (state.failing) throw new Error("provider down");
      await recordEffect(c, e.id);
    },
  });
  return { state, sub };
}

test("another copy of a dead-lettered event that then succeeds resolves the dead letter, and its retry runs nothing", async () => {
  const { state, sub } = flaky();
  await ctx.startEngine([sub]);
  const api = await startTestApi(ctx, { engine: false });
  const eventId = await insertOutboxRow(ctx.sql, "user.created", { userId: "u1" });
  const [dl] = await waitFor("the dead letter", async () => (await readDeadLetters(ctx)).length === 1 ? readDeadLetters(ctx) : null);
  state.failing = false;
  // The same event on the stream again (what a relay crash between XADD and commit leaves).
  const [row] = await ctx.sql`select id, event_type, payload::text as payload, created_at from outbox where id = ${eventId}`;
  await ctx.redis.xadd(keys.stream(ctx.prefix, "user.created"), "*", "id", eventId, "type", "user.created", "occurredAt", new Date(row!.created_at).toISOString(), "payload", row!.payload);
  await waitFor("the copy processed", async () => (await effects()) === 1);
  await waitFor("the dead letter resolved", async () => (await statusOf(dl!.id!)) === "resolved");
  expect(await readDeadLetters(ctx)).toEqual([]); // its Redis copy went with it
  expect((await api.call("POST", `/dlq/${dl!.id}/retry`)).status).toBe(409);
  expect((await api.call("GET", "/dlq")).body.items).toEqual([]);
  expect((await api.call("GET", "/dlq?status=resolved")).body.items.map((i: { id: string }) => i.id)).toEqual([dl!.id]);
});

test("retention keeps an event and its records while an open dead letter points at it, so a retry after retention applies nothing twice", async () => {
  const { sub } = flaky();
  const engine = await ctx.startEngine([sub], { env: { OUTBOX_RETENTION: "1s" } });
  const api = await startTestApi(ctx, { engine: false });
  // Processed by the handler already (another copy got through) while a dead letter of it is still open.
  const eventId = await insertOutboxRow(ctx.sql, "user.created", { userId: "u1" });
  await waitFor("the dead letter", async () => (await readDeadLetters(ctx)).length === 1);
  const [{ id }] = (await ctx.sql`select id from dead_letters`) as unknown as [{ id: string }];
  await ctx.sql`insert into effects (handler, event_id) values ('mailer', ${eventId})`;
  await ctx.sql`insert into processed_events (handler, event_id) values ('mailer', ${eventId})`;
  await ctx.sql`update outbox set published_at = now() - interval '1 hour'`;

  expect(await engine.runMaintenance()).toBe(true);
  expect((await ctx.sql`select 1 from outbox where id = ${eventId}`).length).toBe(1);
  expect((await ctx.sql`select 1 from processed_events where event_id = ${eventId}`).length).toBe(1);

  expect((await api.call("POST", `/dlq/${id}/retry`)).status).toBe(202);
  await waitFor("the re-drive acked", async () => Number(((await ctx.redis.xpending(keys.stream(ctx.prefix, "user.created"), "mailer")) as [number])[0]) === 0);
  await Bun.sleep(300);
  expect(await effects()).toBe(1);
});

test("a discarded dead letter is gone one by one (404) and listed under status=discarded", async () => {
  const { sub } = flaky();
  await ctx.startEngine([sub]);
  const api = await startTestApi(ctx, { engine: false });
  await insertOutboxRow(ctx.sql, "user.created", { userId: "u1" });
  await waitFor("the dead letter", async () => (await readDeadLetters(ctx)).length === 1);
  const [{ id }] = (await ctx.sql`select id from dead_letters`) as unknown as [{ id: string }];
  expect((await api.call("DELETE", `/dlq/${id}`)).status).toBe(204);
  expect((await api.call("GET", `/dlq/${id}`)).status).toBe(404);
  expect((await api.call("DELETE", `/dlq/${id}`)).status).toBe(404);
  expect((await api.call("POST", `/dlq/${id}/retry`)).status).toBe(404);
  const listed = (await api.call("GET", "/dlq?status=discarded")).body.items;
  expect(listed.map((i: { id: string }) => i.id)).toEqual([id]);
  expect((await api.call("GET", "/dlq?status=gone")).status).toBe(400);
});

test("a retried dead letter's entry deleted from the stream while it waits for its retry is re-driven again, not lost", async () => {
  const state = { mode: "fail" as "fail" | "fail-once" | "ok" };
  const entries: string[] = [];
  await ctx.startEngine([subscribe({
    handler: "mailer", eventType: "user.created", schema: userCreated,
    options: { maxAttempts: 2, backoff: { initialMs: 1_500, multiplier: 1, maxMs: 1_500 } },
    handle: async (e, c: HandlerContext) => {
      if (state.mode === "fail") throw new UnrecoverableError("provider refused");
      if (state.mode === "fail-once") {
        state.mode = "ok";
        throw new Error("provider down");
      }
      await recordEffect(c, e.id);
    },
  })], { onOutcome: (r) => void entries.push(r.outcome) });
  const api = await startTestApi(ctx, { engine: false });
  await insertOutboxRow(ctx.sql, "user.created", { userId: "u1" });
  await waitFor("the dead letter", async () => (await readDeadLetters(ctx)).length === 1);
  const [{ id }] = (await ctx.sql`select id from dead_letters`) as unknown as [{ id: string }];
  state.mode = "fail-once";
  const retried = await api.call("POST", `/dlq/${id}/retry`);
  expect(retried.status).toBe(202);
  const entryId = retried.body.entryId as string;
  await waitFor("the re-drive's first failure", () => entries.includes("retry"));
  // Gone from the stream while it is pending for its retry (an operator's XDEL, a partial loss).
  expect(await ctx.redis.xdel(keys.stream(ctx.prefix, "user.created"), entryId)).toBe(1);
  await waitFor("the event processed once", async () => (await effects()) === 1, 15_000);
  await Bun.sleep(500);
  expect(await effects()).toBe(1);
});

test("two copies of one event that both fail for good leave one open dead letter, whose retry applies the event once", async () => {
  const { state, sub } = flaky();
  const outcomes: string[] = [];
  await ctx.startEngine([sub], { onOutcome: (r) => void outcomes.push(r.outcome) });
  const api = await startTestApi(ctx, { engine: false });
  const eventId = await insertOutboxRow(ctx.sql, "user.created", { userId: "u1" });
  await waitFor("the dead letter", async () => (await readDeadLetters(ctx)).length === 1);
  // The same event on the stream again (what a recovery from Redis data loss re-publishes), failing the same way.
  const [row] = await ctx.sql`select event_type, payload::text as payload, created_at from outbox where id = ${eventId}`;
  await ctx.redis.xadd(keys.stream(ctx.prefix, "user.created"), "*", "id", eventId, "type", "user.created", "occurredAt", new Date(row!.created_at).toISOString(), "payload", row!.payload);
  await waitFor("the copy settled", async () => outcomes.filter((o) => o === "dead_lettered").length === 2);
  await waitFor("the copy acked", async () => Number(((await ctx.redis.xpending(keys.stream(ctx.prefix, "user.created"), "mailer")) as [number])[0]) === 0);

  const open = (await api.call("GET", "/dlq")).body.items as { id: string; eventId: string }[];
  expect(open.map((i) => i.eventId)).toEqual([eventId]);
  expect(await readDeadLetters(ctx)).toHaveLength(1);
  expect((await ctx.sql`select count(*)::int as n from dead_letters`)[0]!.n).toBe(1);

  state.failing = false;
  expect((await api.call("POST", `/dlq/${open[0]!.id}/retry`)).status).toBe(202);
  await waitFor("the retry processed", async () => (await effects()) === 1);
  await Bun.sleep(300);
  expect(await effects()).toBe(1);
});
