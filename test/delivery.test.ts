import { afterEach, beforeEach, expect, test } from "bun:test";
import { z } from "zod";
import { UnrecoverableError } from "../src/engine/support/errors.ts";
import type { OutcomeReport } from "../src/engine/index.ts";
import { subscribe, type HandlerContext } from "../src/engine/delivery/subscribe.ts";
import { keys } from "../src/engine/redis/keys.ts";
import { createTestContext, insertOutboxRow, waitFor, type TestContext } from "./support/context.ts";
import { pendingOf, readDeadLetters, recordEffect } from "./support/effects.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(() => ctx.cleanup());

const userCreated = z.object({ userId: z.string() });
const effects = async (handler?: string) =>
  handler
    ? ctx.sql<{ event_id: string; note: string }[]>`select event_id, note from effects where handler = ${handler}`
    : ctx.sql<{ event_id: string; note: string }[]>`select event_id, note from effects`;
const pending = (eventType: string, group: string) => pendingOf(ctx, eventType, group);
const deadLetters = () => readDeadLetters(ctx);
const record = recordEffect;

test("a row inserted by plain SQL by another service reaches its handler", async () => {
  await ctx.startEngine([subscribe({ handler: "welcome", eventType: "user.created", schema: userCreated, handle: async (e, c) => void (await record(c, e.id, e.payload.userId)) })]);
  await ctx.sql`insert into outbox (event_type, payload) values ('user.created', '{"userId": "u1"}')`;
  await waitFor("delivery", async () => (await effects()).length === 1);
  expect((await effects()).map((r) => r.note)).toEqual(["u1"]);
});

test("one event fans out to every handler of its type, each running it once", async () => {
  const handle = async (e: { id: string }, c: HandlerContext) => void (await record(c, e.id));
  await ctx.startEngine([
    subscribe({ handler: "mailer", eventType: "user.created", schema: userCreated, handle }),
    subscribe({ handler: "crm", eventType: "user.created", schema: userCreated, handle }),
  ]);
  const id = await insertOutboxRow(ctx.sql, "user.created", { userId: "u1" });
  await waitFor("both handlers", async () => (await effects()).length === 2);
  await Bun.sleep(300);
  expect((await effects("mailer")).map((r) => r.event_id)).toEqual([id]);
  expect((await effects("crm")).map((r) => r.event_id)).toEqual([id]);
  const records = await ctx.sql`select handler from processed_events where event_id = ${id} order by handler`;
  expect(records.map((r) => r.handler)).toEqual(["crm", "mailer"]);
});

test("a handler that fails twice then succeeds runs three times, with growing delays, and commits once", async () => {
  const runs: { attempt: number; at: number }[] = [];
  await ctx.startEngine([
    subscribe({
      handler: "flaky", eventType: "user.created", schema: userCreated,
      options: { backoff: { initialMs: 200, multiplier: 3, maxMs: 5_000 } },
      handle: async (e, c) => {
        runs.push({ attempt: c.attempt, at: Date.now() });
        await record(c, e.id, `attempt ${c.attempt}`); // rolled back when the attempt fails
        if (runs.length < 3) throw new Error(`transient failure ${runs.length}`);
      },
    }),
  ]);
  await insertOutboxRow(ctx.sql, "user.created", { userId: "u1" });
  await waitFor("third attempt", async () => (await effects()).length === 1);
  expect(runs.map((r) => r.attempt)).toEqual([1, 2, 3]);
  const gap1 = runs[1]!.at - runs[0]!.at;
  const gap2 = runs[2]!.at - runs[1]!.at;
  expect(gap1).toBeGreaterThanOrEqual(150);
  expect(gap2).toBeGreaterThan(gap1);
  expect((await effects()).map((r) => r.note)).toEqual(["attempt 3"]);
  await waitFor("the entry acked", async () => (await pending("user.created", "flaky")) === 0);
});

test("an always-failing handler is dead-lettered after maxAttempts with its error, leaving nothing pending", async () => {
  let runs = 0;
  await ctx.startEngine([
    subscribe({
      handler: "broken", eventType: "user.created", schema: userCreated,
      options: { maxAttempts: 3, backoff: { initialMs: 50, multiplier: 2, maxMs: 200 } },
      handle: async () => {
        runs++;
        throw new Error("smtp said no");
      },
    }),
  ]);
  const id = await insertOutboxRow(ctx.sql, "user.created", { userId: "u9" });
  const [dl] = await waitFor("dead letter", async () => ((await deadLetters()).length === 1 ? deadLetters() : null));
  expect(dl).toMatchObject({
    eventId: id, eventType: "user.created", handler: "broken", stream: keys.stream(ctx.prefix, "user.created"),
    reason: "max_attempts", error: "smtp said no", attempts: "3",
  });
  expect(JSON.parse(dl!.payload!)).toEqual({ userId: "u9" });
  expect(dl!.entryId).toMatch(/^\d+-\d+$/);
  expect(Number.isNaN(Date.parse(dl!.failedAt!))).toBe(false);
  expect(runs).toBe(3);
  // The ack follows the dead letter's Redis copy (one MULTI per slot): it may land a moment later.
  await waitFor("nothing pending", async () => (await pending("user.created", "broken")) === 0);
});

test("a payload failing its schema is dead-lettered on the first attempt without running the handler", async () => {
  let runs = 0;
  const reports: OutcomeReport[] = [];
  await ctx.startEngine(
    [subscribe({ handler: "strict", eventType: "user.created", schema: userCreated, handle: async () => void runs++ })],
    { onOutcome: (r) => reports.push(r) },
  );
  await insertOutboxRow(ctx.sql, "user.created", { userId: 42 });
  // The outcome is reported just after the dead letter is written.
  const [dl] = await waitFor("dead letter", async () => ((await deadLetters()).length === 1 && reports.length > 0 ? deadLetters() : null));
  expect(dl).toMatchObject({ reason: "schema_invalid", attempts: "1", handler: "strict" });
  expect(dl!.error).toContain("userId");
  expect(runs).toBe(0);
  expect(reports.map((r) => r.outcome)).toEqual(["dead_lettered"]);
  await waitFor("the entry acked", async () => (await pending("user.created", "strict")) === 0);
});

test("UnrecoverableError dead-letters at once", async () => {
  let runs = 0;
  await ctx.startEngine([
    subscribe({
      handler: "picky", eventType: "user.created", schema: userCreated,
      handle: async () => {
        runs++;
        throw new UnrecoverableError("user is banned");
      },
    }),
  ]);
  await insertOutboxRow(ctx.sql, "user.created", { userId: "u1" });
  const [dl] = await waitFor("dead letter", async () => ((await deadLetters()).length === 1 ? deadLetters() : null));
  expect(dl).toMatchObject({ reason: "unrecoverable", error: "user is banned", attempts: "1" });
  expect(runs).toBe(1);
});

test("a duplicated stream entry changes state once and both entries are acked", async () => {
  const reports: OutcomeReport[] = [];
  await ctx.startEngine(
    [subscribe({ handler: "once", eventType: "user.created", schema: userCreated, handle: async (e, c) => void (await record(c, e.id)) })],
    { onOutcome: (r) => reports.push(r) },
  );
  const id = await insertOutboxRow(ctx.sql, "user.created", { userId: "u1" });
  await waitFor("first delivery", async () => (await effects()).length === 1);
  // What a relay crash between XADD and commit leaves behind: the same event on the stream twice.
  const stream = keys.stream(ctx.prefix, "user.created");
  const [[, fields]] = (await ctx.redis.xrange(stream, "-", "+")) as [[string, string[]]];
  await ctx.redis.xadd(stream, "*", ...fields);
  await waitFor("duplicate absorbed", () => reports.some((r) => r.outcome === "duplicate"));
  expect((await effects()).map((r) => r.event_id)).toEqual([id]);
  await waitFor("the entry acked", async () => (await pending("user.created", "once")) === 0);
});

test("a rate limit spreads runs over windows shared by every machine", async () => {
  const starts: number[] = [];
  const sub = subscribe({
    handler: "throttled", eventType: "user.created", schema: userCreated,
    options: { rateLimit: { max: 2, durationMs: 500 } },
    handle: async (e, c) => {
      starts.push(Date.now());
      await record(c, e.id);
    },
  });
  await ctx.startEngine([sub], { env: { CONSUMER_NAME: `${ctx.prefix}-a` } });
  await ctx.startEngine([sub], { env: { CONSUMER_NAME: `${ctx.prefix}-b` } });
  await ctx.sql`insert into outbox (event_type, payload) select 'user.created', jsonb_build_object('userId', g::text) from generate_series(1, 6) g`;
  await waitFor("all six", async () => (await effects()).length === 6);
  // Six runs at two per 500 ms window need three windows, so the first and the last are at least
  // one whole window apart (less the moments between a permit and the handler starting).
  expect(Math.max(...starts) - Math.min(...starts)).toBeGreaterThanOrEqual(400);
});

test("deliveries that fail before reaching the handler (database unavailable) never use up attempts", async () => {
  const attempts: number[] = [];
  const reports: OutcomeReport[] = [];
  await ctx.startEngine(
    [
      subscribe({
        handler: "steady", eventType: "user.created", schema: userCreated,
        options: { maxAttempts: 2, backoff: { initialMs: 50, multiplier: 2, maxMs: 200 } },
        handle: async (e, c) => {
          attempts.push(c.attempt);
          await record(c, e.id);
        },
      }),
    ],
    { onOutcome: (r) => reports.push(r) },
  );
  // The engine's own transaction step fails while the table is away, as it would with PostgreSQL down.
  await ctx.sql`alter table processed_events rename to processed_events_away`;
  await insertOutboxRow(ctx.sql, "user.created", { userId: "u1" });
  await waitFor("several failed deliveries", () => reports.filter((r) => r.outcome === "retry").length >= 4);
  await ctx.sql`alter table processed_events_away rename to processed_events`;
  await waitFor("effect", async () => (await effects()).length === 1);
  expect(attempts).toEqual([1]);
  expect(await deadLetters()).toEqual([]);
});

test("an entry that is not an event (written to the stream by hand) is dead-lettered and does not block the next", async () => {
  await ctx.startEngine([subscribe({ handler: "h", eventType: "user.created", schema: userCreated, handle: async (e, c) => void (await record(c, e.id)) })]);
  await ctx.redis.xadd(keys.stream(ctx.prefix, "user.created"), "*", "hello", "world");
  const id = await insertOutboxRow(ctx.sql, "user.created", { userId: "u2" });
  await waitFor("next event handled", async () => (await effects()).length === 1);
  const [dl] = await waitFor("dead letter", async () => ((await deadLetters()).length === 1 ? deadLetters() : null));
  expect(dl).toMatchObject({ reason: "malformed_entry", handler: "h", eventType: "user.created", error: "entry has no valid event id" });
  expect((await effects()).map((r) => r.event_id)).toEqual([id]);
  await waitFor("the entry acked", async () => (await pending("user.created", "h")) === 0);
});

test("a hung handler times out, its transaction rolls back, and it is retried then dead-lettered", async () => {
  let runs = 0;
  let aborted = 0;
  await ctx.startEngine([
    subscribe({
      handler: "hung", eventType: "user.created", schema: userCreated,
      options: { timeoutMs: 200, maxAttempts: 2, backoff: { initialMs: 50, multiplier: 2, maxMs: 100 } },
      handle: async (e, c) => {
        runs++;
        c.signal.addEventListener("abort", () => aborted++);
        await record(c, e.id);
        await new Promise(() => {}); // never settles
      },
    }),
  ]);
  await insertOutboxRow(ctx.sql, "user.created", { userId: "u1" });
  const [dl] = await waitFor("dead letter", async () => ((await deadLetters()).length === 1 ? deadLetters() : null));
  expect(dl).toMatchObject({ reason: "max_attempts", error: "handler timed out after 200 ms", attempts: "2" });
  expect({ runs, aborted }).toEqual({ runs: 2, aborted: 2 });
  expect((await effects()).length).toBe(0);
});

test("ctx.claimOnce keeps an effect outside PostgreSQL from repeating when the event is redelivered", async () => {
  const sent: string[] = [];
  let runs = 0;
  await ctx.startEngine(
    [
      subscribe({
        handler: "mailer", eventType: "user.created", schema: userCreated,
        options: { backoff: { initialMs: 50, multiplier: 2, maxMs: 100 } },
        handle: async (e, c) => {
          runs++;
          if (await c.claimOnce(`welcome:${e.payload.userId}`)) sent.push(e.payload.userId);
          if (runs === 1) throw new Error("crashed after sending"); // the e-mail went out, the commit did not
          await record(c, e.id);
        },
      }),
    ],
    { env: { IDEMPOTENCY_TTL_MS: "1h" } },
  );
  await insertOutboxRow(ctx.sql, "user.created", { userId: "u1" });
  await waitFor("second run committed", async () => (await effects()).length === 1);
  expect({ runs, sent }).toEqual({ runs: 2, sent: ["u1"] });
  const ttl = await ctx.redis.pttl(keys.idempotency(ctx.prefix, "welcome:u1"));
  expect(ttl).toBeGreaterThan(3_500_000);
  expect(ttl).toBeLessThanOrEqual(3_600_000);
});
