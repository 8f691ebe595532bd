import { afterEach, beforeEach, expect, test } from "bun:test";
import { z } from "zod";
import { UnrecoverableError } from "../src/engine/support/errors.ts";
import type { OutboxRow } from "../src/engine/outbox/claim.ts";
import { subscribe, type HandlerContext } from "../src/engine/delivery/subscribe.ts";
import { moveToDeadLetter } from "../src/engine/dead-letters/move.ts";
import { insertDeadLetters, newDeadLetter, type DeadLetterRow } from "../src/engine/dead-letters/row.ts";
import { ensureGroup } from "../src/engine/delivery/groups.ts";
import { keys } from "../src/engine/redis/keys.ts";
import type { OutcomeReport } from "../src/engine/index.ts";
import { publishRows } from "../src/engine/outbox/publish.ts";
import { startTestApi, type TestApi } from "./support/api.ts";
import { createTestContext, deleteKeys, insertOutboxRow, waitFor, type TestContext } from "./support/context.ts";
import { readDeadLetters, recordEffect } from "./support/effects.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(() => ctx.cleanup());

const userCreated = z.object({ userId: z.string() });
const job = z.object({ n: z.number() });

/** Handlers that throw UnrecoverableError (dead-lettered at once) while their name is in `failing`. */
function world(failing: Set<string>) {
  const runs: Record<string, number> = {};
  const reports: OutcomeReport[] = [];
  const handle = async (e: { id: string }, c: HandlerContext) => {
    runs[c.handler] = (runs[c.handler] ?? 0) + 1;
    if (failing.has(c.handler)) throw new UnrecoverableError(`${c.handler} is down`);
    await recordEffect(c, e.id);
  };
  const on = (handler: string, eventType = "user.created") =>
    subscribe({ handler, eventType, schema: eventType === "user.created" ? userCreated : job, handle });
  return { runs, reports, on, onOutcome: (r: OutcomeReport) => void reports.push(r) };
}

const effects = async (handler: string) => (await ctx.sql<{ event_id: string }[]>`select event_id from effects where handler = ${handler}`).map((r) => r.event_id);
/** Dead letters whose whole recording (row, Redis copy, copy id on the row) is done. */
const recorded = async () => Number((await ctx.sql`select count(*)::int as n from dead_letters where dlq_entry_id is not null`)[0]!.n);
const waitRecorded = (n: number) => waitFor(`${n} dead letters`, async () => (await recorded()) >= n);
const deadLetterId = async (handler: string, eventId: string) =>
  (await ctx.sql<{ id: string }[]>`select id from dead_letters where handler = ${handler} and event_id = ${eventId}`)[0]!.id;
const dlqCount = async (eventType: string) => Number((await ctx.redis.hget(keys.deadLetterCounts(ctx.prefix), eventType)) ?? 0);

async function listAll(api: TestApi, query: string): Promise<{ items: any[]; pages: number }> {
  const items: any[] = [];
  let pages = 0;
  let cursor: string | null = null;
  do {
    const res = await api.call("GET", `/dlq?${query}${cursor ? `&cursor=${cursor}` : ""}`);
    expect(res.status).toBe(200);
    items.push(...res.body.items);
    cursor = res.body.nextCursor;
    pages++;
  } while (cursor);
  return { items, pages };
}

test("a failing handler's dead letter is recorded in PostgreSQL and in the Redis stream under the same id", async () => {
  const w = world(new Set(["mailer"]));
  await ctx.startEngine([w.on("mailer")]);
  const api = await startTestApi(ctx, { engine: false });
  const eventId = await insertOutboxRow(ctx.sql, "user.created", { userId: "u1" });
  await waitRecorded(1);

  const [row] = await ctx.sql`select id, dlq_entry_id, status from dead_letters`;
  const entries = await ctx.redis.xrange(keys.deadLetters(ctx.prefix), "-", "+");
  expect(entries.map(([entryId]) => entryId)).toEqual([row!.dlq_entry_id]);
  const [copy] = await readDeadLetters(ctx);
  expect(copy).toMatchObject({ id: row!.id, eventId, handler: "mailer", reason: "unrecoverable", error: "mailer is down", attempts: "1" });
  expect(await dlqCount("user.created")).toBe(1);

  const res = await api.call("GET", `/dlq/${row!.id}`);
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({
    id: row!.id, eventId, eventType: "user.created", handler: "mailer", reason: "unrecoverable", error: "mailer is down",
    attempts: 1, payload: { userId: "u1" }, stream: keys.stream(ctx.prefix, "user.created"), entryId: copy!.entryId,
    status: "open", resolvedAt: null, aggregateId: null, tenantId: null,
  });
  expect(Number.isNaN(Date.parse(res.body.failedAt))).toBe(false);
  expect(Number.isNaN(Date.parse(res.body.occurredAt))).toBe(false);
});

test("the list filters by event type and handler and pages newest first, every item once, nextCursor null at the end", async () => {
  const w = world(new Set(["a", "b", "c"]));
  await ctx.startEngine([w.on("a"), w.on("b"), w.on("c", "job.run")]);
  const api = await startTestApi(ctx, { engine: false });
  for (let i = 0; i < 3; i++) await insertOutboxRow(ctx.sql, "user.created", { userId: `u${i}` });
  for (let n = 0; n < 2; n++) await insertOutboxRow(ctx.sql, "job.run", { n });
  await waitRecorded(8);

  const all = await listAll(api, "limit=3");
  expect(all.pages).toBe(3);
  const ids = all.items.map((i) => i.id);
  expect(new Set(ids).size).toBe(8);
  const stored = (await ctx.sql<{ id: string }[]>`select id from dead_letters`).map((r) => r.id);
  expect([...ids].sort()).toEqual([...stored].sort());
  const times = all.items.map((i) => Date.parse(i.failedAt));
  expect(times).toEqual([...times].sort((x, y) => y - x));
  expect(Object.keys(all.items[0]).sort()).toEqual(["aggregateId", "attempts", "error", "eventId", "eventType", "failedAt", "handler", "id", "payload", "reason", "status", "tenantId"]);

  const byHandler = await listAll(api, "handler=a&limit=2");
  expect(byHandler.items.map((i) => i.handler)).toEqual(["a", "a", "a"]);
  const byType = await listAll(api, "eventType=job.run");
  expect(byType).toMatchObject({ pages: 1 });
  expect(byType.items.map((i) => [i.handler, i.payload.n]).sort()).toEqual([["c", 0], ["c", 1]]);
  const both = await listAll(api, "eventType=user.created&handler=b&limit=500");
  expect(both.items.map((i) => i.payload.userId).sort()).toEqual(["u0", "u1", "u2"]);
  expect((await api.call("GET", "/dlq?handler=nobody")).body).toEqual({ items: [], nextCursor: null });
});

test("retry re-runs only that handler, applies its effect once, and removes the letter from the list and the stream", async () => {
  const failing = new Set(["flaky"]);
  const w = world(failing);
  await ctx.startEngine([w.on("steady"), w.on("flaky")], { onOutcome: w.onOutcome });
  const api = await startTestApi(ctx, { engine: false });
  const eventId = await insertOutboxRow(ctx.sql, "user.created", { userId: "u1" });
  await waitRecorded(1);
  await waitFor("steady ran", async () => (await effects("steady")).length === 1);
  const id = await deadLetterId("flaky", eventId);

  failing.delete("flaky");
  const res = await api.call("POST", `/dlq/${id}/retry`);
  expect(res.status).toBe(202);
  expect(res.body).toMatchObject({ id, status: "retried" });
  await waitFor("flaky ran again", async () => (await effects("flaky")).length === 1);
  // The re-driven entry reached steady's group too, which skipped it instead of running the event again.
  await waitFor("steady skipped the re-drive", () => w.reports.some((r) => r.handler === "steady" && r.outcome === "skipped"));
  expect(w.runs).toEqual({ steady: 1, flaky: 2 });
  expect(await effects("flaky")).toEqual([eventId]);

  expect((await api.call("GET", "/dlq")).body.items).toEqual([]);
  expect(await ctx.redis.xlen(keys.deadLetters(ctx.prefix))).toBe(0);
  expect(await dlqCount("user.created")).toBe(0);
  expect((await api.call("GET", `/dlq/${id}`)).body).toMatchObject({ status: "retried", resolvedAt: expect.any(String) });
  const again = await api.call("POST", `/dlq/${id}/retry`);
  expect(again.status).toBe(409);
  expect(again.body.error.code).toBe("conflict");
});

test("two concurrent retries deliver once, and a duplicated re-drive entry still applies the effect exactly once", async () => {
  const failing = new Set(["flaky"]);
  const w = world(failing);
  await ctx.startEngine([w.on("flaky")], { onOutcome: w.onOutcome });
  const api = await startTestApi(ctx, { engine: false });
  const eventId = await insertOutboxRow(ctx.sql, "user.created", { userId: "u1" });
  await waitRecorded(1);
  const id = await deadLetterId("flaky", eventId);
  failing.delete("flaky");

  const statuses = (await Promise.all([api.call("POST", `/dlq/${id}/retry`), api.call("POST", `/dlq/${id}/retry`)])).map((r) => r.status);
  expect(statuses.sort()).toEqual([202, 409]);
  await waitFor("effect", async () => (await effects("flaky")).length === 1);
  // What a commit failing after the XADD leaves behind: the re-drive entry on the stream twice.
  const stream = keys.stream(ctx.prefix, "user.created");
  const [, fields] = (await ctx.redis.xrange(stream, "-", "+")).find(([, f]) => f.includes("target"))!;
  await ctx.redis.xadd(stream, "*", ...fields);
  await waitFor("duplicate absorbed", () => w.reports.some((r) => r.outcome === "duplicate"));
  expect(await effects("flaky")).toEqual([eventId]);
});

test("bulk retry by event type, handler or ids, with dryRun changing nothing", async () => {
  const failing = new Set(["a", "b", "c"]);
  const w = world(failing);
  await ctx.startEngine([w.on("a"), w.on("b"), w.on("c", "job.run")]);
  const api = await startTestApi(ctx, { engine: false });
  const u1 = await insertOutboxRow(ctx.sql, "user.created", { userId: "u1" });
  const u2 = await insertOutboxRow(ctx.sql, "user.created", { userId: "u2" });
  const j1 = await insertOutboxRow(ctx.sql, "job.run", { n: 1 });
  await waitRecorded(5);

  expect((await api.call("POST", "/dlq/retry", { eventType: "user.created", dryRun: true })).body).toMatchObject({ retried: 4 });
  expect((await api.call("POST", "/dlq/retry", { handler: "a", dryRun: true })).body).toMatchObject({ retried: 2 });
  expect((await api.call("POST", "/dlq/retry", { dryRun: true })).body).toMatchObject({ retried: 5 });
  expect((await api.call("GET", "/dlq")).body.items).toHaveLength(5);
  expect(await ctx.redis.xlen(keys.deadLetters(ctx.prefix))).toBe(5);

  failing.clear();
  const byHandler = await api.call("POST", "/dlq/retry", { handler: "a" });
  expect(byHandler).toMatchObject({ status: 202, body: { retried: 2 } });
  const byIds = await api.call("POST", "/dlq/retry", { ids: [await deadLetterId("b", u1)] });
  expect(byIds.body).toEqual({ retried: 1 });
  expect((await api.call("POST", "/dlq/retry", { eventType: "job.run" })).body).toEqual({ retried: 1 });
  expect((await api.call("POST", "/dlq/retry", { eventType: "job.run" })).body).toEqual({ retried: 0 });

  await waitFor("retried effects", async () => (await effects("a")).length === 2 && (await effects("b")).length === 1 && (await effects("c")).length === 1);
  expect((await effects("a")).sort()).toEqual([u1, u2].sort());
  expect(await effects("b")).toEqual([u1]);
  expect(await effects("c")).toEqual([j1]);
  const left = (await api.call("GET", "/dlq")).body.items;
  expect(left.map((i: { handler: string; eventId: string }) => [i.handler, i.eventId])).toEqual([["b", u2]]);
  expect(await ctx.redis.xlen(keys.deadLetters(ctx.prefix))).toBe(1);
  expect(await dlqCount("user.created")).toBe(1);
  expect(await dlqCount("job.run")).toBe(0);
});

test("delete answers 204, leaves the list and the stream, and a re-published event never runs for that handler", async () => {
  const w = world(new Set(["mailer"]));
  await ctx.startEngine([w.on("mailer")], { onOutcome: w.onOutcome });
  const api = await startTestApi(ctx, { engine: false });
  const eventId = await insertOutboxRow(ctx.sql, "user.created", { userId: "u1" });
  await waitRecorded(1);
  const id = await deadLetterId("mailer", eventId);

  const res = await api.call("DELETE", `/dlq/${id}`);
  expect(res.status).toBe(204);
  expect((await api.call("GET", "/dlq")).body.items).toEqual([]);
  expect(await ctx.redis.xlen(keys.deadLetters(ctx.prefix))).toBe(0);
  expect(await dlqCount("user.created")).toBe(0);
  expect((await api.call("GET", `/dlq/${id}`)).status).toBe(404);
  const records = await ctx.sql`select handler, outcome from processed_events where event_id = ${eventId}`;
  expect(records.map((r) => ({ ...r }))).toEqual([{ handler: "mailer", outcome: "discarded" }]);
  expect((await api.call("DELETE", `/dlq/${id}`)).status).toBe(404);
  expect((await api.call("POST", `/dlq/${id}/retry`)).status).toBe(404);

  const [row] = await ctx.sql<OutboxRow[]>`select id, event_type, aggregate_id, tenant_id, payload::text as payload, created_at from outbox where id = ${eventId}`;
  await publishRows(ctx.redis, ctx.prefix, [row!]);
  await waitFor("re-publish acked as a duplicate", () => w.reports.some((r) => r.outcome === "duplicate"));
  expect(w.runs).toEqual({ mailer: 1 });
});

test("an entry with no event id is listed with its raw payload, cannot be retried (409), and can be deleted", async () => {
  const w = world(new Set());
  await ctx.startEngine([w.on("h")]);
  const api = await startTestApi(ctx, { engine: false });
  await ctx.redis.xadd(keys.stream(ctx.prefix, "user.created"), "*", "type", "user.created", "payload", "not json");
  await waitRecorded(1);
  const [item] = (await api.call("GET", "/dlq")).body.items;
  expect(item).toMatchObject({ eventId: null, reason: "malformed_entry", payload: "not json" });
  const retry = await api.call("POST", `/dlq/${item.id}/retry`);
  expect(retry.status).toBe(409);
  expect(retry.body.error.message).toContain("no event id");
  expect((await api.call("POST", "/dlq/retry", {})).body).toEqual({ retried: 0 });
  expect((await api.call("DELETE", `/dlq/${item.id}`)).status).toBe(204);
  expect(await ctx.redis.xlen(keys.deadLetters(ctx.prefix))).toBe(0);
});

test("unknown ids are 404; malformed ids, limits, cursors and bodies are 400 naming the field", async () => {
  const api = await startTestApi(ctx, { engine: false });
  const unknown = "00000000-0000-4000-8000-000000000000";
  for (const [method, path] of [["GET", `/dlq/${unknown}`], ["POST", `/dlq/${unknown}/retry`], ["DELETE", `/dlq/${unknown}`]] as const) {
    const res = await api.call(method, path);
    expect({ path, status: res.status, code: res.body.error.code }).toEqual({ path, status: 404, code: "not_found" });
  }
  const field = async (method: string, path: string, body?: unknown) => {
    const res = await api.call(method, path, body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("validation_failed");
    return res.body.error.details.map((d: { path: string }) => d.path);
  };
  for (const method of ["GET", "POST", "DELETE"]) expect(await field(method, method === "POST" ? "/dlq/nope/retry" : "/dlq/nope")).toEqual(["id"]);
  for (const limit of ["0", "501", "abc", "1.5"]) expect(await field("GET", `/dlq?limit=${limit}`)).toEqual(["limit"]);
  for (const cursor of ["garbage", Buffer.from('["x","y"]').toString("base64url"), "%7B%7D"]) expect(await field("GET", `/dlq?cursor=${cursor}`)).toEqual(["cursor"]);
  expect(await field("POST", "/dlq/retry", { ids: ["x"] })).toEqual(["ids.0"]);
  expect(await field("POST", "/dlq/retry", { dryRun: "yes" })).toEqual(["dryRun"]);
  expect((await api.call("POST", "/dlq/retry", "{}", { "content-type": "text/plain" })).status).toBe(400);
  expect((await api.call("GET", "/dlq?limit=500")).body).toEqual({ items: [], nextCursor: null });
});

test("with ADMIN_TOKEN set, /dlq answers 401 without the token", async () => {
  const token = "test-admin-token-123456";
  const api = await startTestApi(ctx, { engine: false, env: { ADMIN_TOKEN: token } });
  const id = "00000000-0000-4000-8000-000000000000";
  for (const [method, path] of [["GET", "/dlq"], ["GET", `/dlq/${id}`], ["POST", `/dlq/${id}/retry`], ["POST", "/dlq/retry"], ["DELETE", `/dlq/${id}`]] as const) {
    const res = await api.call(method, path);
    expect({ path, status: res.status, code: res.body.error.code }).toEqual({ path, status: 401, code: "unauthorized" });
  }
  expect((await api.call("GET", "/dlq", undefined, { authorization: "Bearer wrong-token-wrong-token" })).status).toBe(401);
  expect((await api.call("GET", "/dlq", undefined, { authorization: `Bearer ${token}` })).status).toBe(200);
});

test("a dead letter survives Redis losing its data: still listed, and a retry recreates what it needs", async () => {
  const failing = new Set(["mailer"]);
  const w = world(failing);
  await ctx.startEngine([w.on("mailer")]);
  const api = await startTestApi(ctx, { engine: false });
  const eventId = await insertOutboxRow(ctx.sql, "user.created", { userId: "u1" });
  await waitRecorded(1);

  await deleteKeys(ctx.redis, `${ctx.prefix}:*`);
  expect(await ctx.redis.exists(keys.deadLetters(ctx.prefix))).toBe(0);
  expect(await ctx.redis.exists(keys.stream(ctx.prefix, "user.created"))).toBe(0);

  const [item] = (await api.call("GET", "/dlq")).body.items;
  expect(item).toMatchObject({ eventId, handler: "mailer", payload: { userId: "u1" } });
  failing.clear();
  expect((await api.call("POST", `/dlq/${item.id}/retry`)).status).toBe(202);
  await waitFor("retried effect", async () => (await effects("mailer")).length === 1);
  expect(await effects("mailer")).toEqual([eventId]);
  expect(await dlqCount("user.created")).toBe(0);
  expect((await api.call("GET", "/dlq")).body.items).toEqual([]);
});

test("maintenance deletes retried and deleted dead letters resolved longer ago than OUTBOX_RETENTION, never open ones", async () => {
  const engine = await ctx.startEngine([], { env: { OUTBOX_RETENTION: "1h" }, parts: { relay: false, consumers: false, stats: false, maintenance: false } });
  const insert = (entryId: string, status: string, resolvedAgo: string | null, failedAgo = "2 hours") => ctx.sql`
    insert into dead_letters (event_type, handler, stream, entry_id, reason, error, attempts, payload, failed_at, status, resolved_at)
    values ('user.created', 'h', 's', ${entryId}, 'max_attempts', 'e', 5, '{}', now() - ${failedAgo}::interval, ${status},
      ${resolvedAgo === null ? null : ctx.sql`now() - ${resolvedAgo}::interval`})`;
  await insert("1-0", "retried", "2 hours");
  await insert("2-0", "discarded", "3 hours");
  await insert("3-0", "retried", "10 minutes");
  await insert("4-0", "open", null, "30 days");
  expect(await engine.runMaintenance()).toBe(true);
  const left = await ctx.sql`select entry_id from dead_letters order by entry_id`;
  expect(left.map((r) => r.entry_id)).toEqual(["3-0", "4-0"]);
});

/** An entry delivered to group "h" and not acked, and the dead letter the engine would record for it. */
async function pendingEntry(): Promise<DeadLetterRow> {
  const stream = keys.stream(ctx.prefix, "user.created");
  await ensureGroup(ctx.redis, stream, "h");
  const eventId = crypto.randomUUID();
  const entryId = (await ctx.redis.xadd(stream, "*", "id", eventId, "type", "user.created", "payload", '{"userId":"u1"}'))!;
  await ctx.redis.xreadgroup("GROUP", "h", "c1", "STREAMS", stream, ">");
  return newDeadLetter({
    event_id: eventId, event_type: "user.created", handler: "h", stream, entry_id: entryId, reason: "max_attempts", error: "first failure", attempts: 5,
    payload: '{"userId":"u1"}', aggregate_id: null, tenant_id: null, occurred_at: Date.now(),
  });
}

test("an entry dead-lettered again after a crash between its row and the MULTI is recorded once, as first recorded", async () => {
  const dl = await pendingEntry();
  const deps = { sql: ctx.sql, redis: ctx.redis, prefix: ctx.prefix };
  await insertDeadLetters(ctx.sql, [dl]); // the process died here: the entry is still pending
  const moved = await moveToDeadLetter(deps, "h", { ...dl, id: crypto.randomUUID(), attempts: 6, error: "no attempt left" });
  expect(await moveToDeadLetter(deps, "h", { ...dl, id: crypto.randomUUID(), attempts: 7, error: "no attempt left" })).toEqual(moved);

  const rows = await ctx.sql`select id, error, attempts, dlq_entry_id from dead_letters`;
  expect(rows.map((r) => ({ ...r }))).toEqual([{ id: moved.id, error: "first failure", attempts: 5, dlq_entry_id: moved.dlqEntryId }]);
  const copies = await readDeadLetters(ctx);
  expect(copies).toHaveLength(1);
  expect(copies[0]).toMatchObject({ id: moved.id, error: "first failure", attempts: "5" });
  expect(await dlqCount("user.created")).toBe(1);
  expect(((await ctx.redis.xpending(dl.stream, "h")) as [number])[0]).toBe(0);
});

test("an entry whose dead letter an operator resolved before its MULTI is only acked, with no Redis copy", async () => {
  const dl = await pendingEntry();
  const [row] = await insertDeadLetters(ctx.sql, [dl]);
  await ctx.sql`update dead_letters set status = 'discarded', resolved_at = now() where id = ${row!.id}`;
  expect(await moveToDeadLetter({ sql: ctx.sql, redis: ctx.redis, prefix: ctx.prefix }, "h", dl)).toEqual({ id: row!.id, dlqEntryId: null });
  expect(await readDeadLetters(ctx)).toEqual([]);
  expect(((await ctx.redis.xpending(dl.stream, "h")) as [number])[0]).toBe(0);
});

test("a Redis copy whose entry id never reached its row is still found and removed on delete", async () => {
  const api = await startTestApi(ctx, { engine: false });
  const dl = await pendingEntry();
  const moved = await moveToDeadLetter({ sql: ctx.sql, redis: ctx.redis, prefix: ctx.prefix }, "h", dl);
  await ctx.sql`update dead_letters set dlq_entry_id = null`; // the process died before storing it
  expect((await api.call("DELETE", `/dlq/${moved.id}`)).status).toBe(204);
  expect(await readDeadLetters(ctx)).toEqual([]);
  expect(await dlqCount("user.created")).toBe(0);
});
