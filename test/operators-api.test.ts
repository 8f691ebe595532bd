// The operators' JSON API added with the console: handler states, pause and resume, the fleet,
// event lookup. Real engine, real PostgreSQL and Redis, through app.request().
import { afterEach, beforeEach, expect, test } from "bun:test";
import { keys } from "../src/engine/redis/keys.ts";
import { startTestApi, type TestApi } from "./support/api.ts";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { ADMIN_TOKEN, bearer, insertUserEvent, operatorHandlers, waitForDeadLetters } from "./support/operators.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(() => ctx.cleanup());

const env = { ADMIN_TOKEN };
const effectsOf = async (eventId: string) => (await ctx.sql<{ handler: string }[]>`select handler from effects where event_id = ${eventId}`).map((r) => r.handler).sort();
const failuresOf = async (handler: string) => ctx.redis.hlen(keys.failures(ctx.prefix, handler, "user.created"));

async function get(api: TestApi, path: string) {
  const res = await api.call("GET", path, undefined, bearer);
  expect(res.status).toBe(200);
  return res.body;
}

test("GET /handlers shows, per handler and event type, what waits, is in flight, retries and is dead-lettered, with its live consumers", async () => {
  const api = await startTestApi(ctx, { env, subscriptions: operatorHandlers() });
  await api.engine!.consumersStarted;
  // A group nobody consumes: everything published waits for it, and it falls behind.
  await ctx.redis.xgroup("CREATE", keys.stream(ctx.prefix, "user.created"), "offline", "0", "MKSTREAM");
  const ok = await insertUserEvent(ctx, { userId: "u1" });
  await insertUserEvent(ctx, { userId: "u2", bad: true });
  await insertUserEvent(ctx, { userId: "u3", flaky: true });
  await waitForDeadLetters(ctx, 1);
  await waitFor("flaky's first failure", async () => (await failuresOf("flaky")) === 1);
  await waitFor("every handler ran u1", async () => (await effectsOf(ok)).length === 3);

  const body = await get(api, "/handlers");
  const state = (name: string) => {
    const h = body.handlers.find((x: any) => x.name === name);
    expect(h).toBeDefined();
    return h.subscriptions.find((s: any) => s.eventType === "user.created");
  };
  expect(body.handlers.map((h: any) => h.name)).toEqual(["flaky", "offline", "picky", "steady"]);
  expect(state("offline")).toMatchObject({ waiting: 3, inFlight: 0, retrying: 0, deadLettered: 0, consumers: [] });
  expect(state("offline").lagMs).toBeGreaterThan(0);
  expect(state("picky")).toMatchObject({ waiting: 0, inFlight: 0, retrying: 0, deadLettered: 1 });
  expect(state("flaky")).toMatchObject({ waiting: 0, inFlight: 0, retrying: 1, deadLettered: 0 });
  expect(state("steady")).toMatchObject({ waiting: 0, inFlight: 0, retrying: 0, deadLettered: 0, lagMs: null });
  expect(state("flaky").consumers).toEqual([{ name: `${ctx.prefix}-main`, live: true, inFlight: 1, lastSeenAt: expect.any(String) }]);
  expect(body.handlers.every((h: any) => h.paused === null)).toBe(true);

  expect((await api.call("GET", "/handlers")).status).toBe(401);
  expect((await api.call("GET", "/handlers", undefined, { authorization: "Bearer wrong-token-0123456789" })).status).toBe(401);
});

test("pausing a handler stores {since, by} in <prefix>:paused for the whole fleet, shows it paused, and resuming clears it; both are safe to repeat", async () => {
  const api = await startTestApi(ctx, { env, subscriptions: operatorHandlers() });
  await api.engine!.consumersStarted;

  const paused = await api.call("POST", "/handlers/picky/pause", { by: "alice" }, bearer);
  expect(paused.status).toBe(200);
  expect(paused.body).toEqual({ handler: "picky", paused: true, since: expect.any(String), by: "alice" });
  const stored = JSON.parse((await ctx.redis.hget(keys.paused(ctx.prefix), "picky"))!);
  expect(stored).toEqual({ since: paused.body.since, by: "alice" });
  expect(keys.paused(ctx.prefix)).toBe(`${ctx.prefix}:paused`);

  // Again, by someone else: the first pause stands.
  const again = await api.call("POST", "/handlers/picky/pause", undefined, bearer);
  expect(again.body).toEqual({ handler: "picky", paused: true, since: paused.body.since, by: "alice" });
  const listed = (await get(api, "/handlers")).handlers;
  expect(listed.find((h: any) => h.name === "picky").paused).toEqual({ since: paused.body.since, by: "alice" });
  expect(listed.find((h: any) => h.name === "steady").paused).toBeNull();

  const resumed = await api.call("POST", "/handlers/picky/resume", undefined, bearer);
  expect(resumed).toMatchObject({ status: 200, body: { handler: "picky", paused: false, wasPaused: true } });
  expect(await ctx.redis.hexists(keys.paused(ctx.prefix), "picky")).toBe(0);
  expect((await api.call("POST", "/handlers/picky/resume", undefined, bearer)).body).toEqual({ handler: "picky", paused: false, wasPaused: false });

  const unnamed = await api.call("POST", "/handlers/picky/pause", undefined, bearer);
  expect(unnamed.body.by).toBe("api");
});

test("pause refuses a caller without the admin token, an unknown handler (404) and a bad body (400 naming the field), and changes nothing", async () => {
  const api = await startTestApi(ctx, { env, subscriptions: operatorHandlers() });
  await api.engine!.consumersStarted;
  expect((await api.call("POST", "/handlers/picky/pause")).status).toBe(401);
  const unknown = await api.call("POST", "/handlers/no-such-handler/pause", undefined, bearer);
  expect(unknown.status).toBe(404);
  expect(unknown.body.error.code).toBe("not_found");
  expect((await api.call("POST", "/handlers/no-such-handler/resume", undefined, bearer)).status).toBe(404);

  const extra = await api.call("POST", "/handlers/picky/pause", { by: "bob", until: "tomorrow" }, bearer);
  expect(extra.status).toBe(400);
  expect(extra.body.error.details).toEqual([{ path: "until", message: "unknown field" }]);
  const control = await api.call("POST", "/handlers/picky/pause", { by: "line\nbreak" }, bearer);
  expect(control.status).toBe(400);
  expect(control.body.error.details[0].path).toBe("by");
  const notJson = await api.call("POST", "/handlers/picky/pause", "by=bob", { ...bearer, "content-type": "application/x-www-form-urlencoded" });
  expect(notJson.status).toBe(400);
  const malformed = await api.call("POST", "/handlers/picky/pause", "{", bearer);
  expect(malformed.status).toBe(400);
  expect(await ctx.redis.exists(keys.paused(ctx.prefix))).toBe(0);
});

test("GET /events/:id shows the event published, processed by one handler, retrying in another with attempts and next retry, dead-lettered in a third", async () => {
  const api = await startTestApi(ctx, { env, subscriptions: operatorHandlers() });
  await api.engine!.consumersStarted;
  const id = await insertUserEvent(ctx, { userId: "u9", bad: true, flaky: true }, { aggregateId: "user-9", tenantId: "acme" });
  await waitForDeadLetters(ctx, 1);
  await waitFor("flaky's first failure", async () => (await failuresOf("flaky")) === 1);
  await waitFor("steady processed it", async () => (await effectsOf(id)).includes("steady"));

  const before = Date.now();
  const trace = await get(api, `/events/${id}`);
  expect(trace).toMatchObject({ id, eventType: "user.created", aggregateId: "user-9", tenantId: "acme", inOutbox: true, payload: { userId: "u9" } });
  expect(Date.parse(trace.publishedAt)).toBeGreaterThanOrEqual(Date.parse(trace.createdAt));
  expect(trace.entryId).toMatch(/^\d+-\d+$/);
  const stage = (h: string) => trace.handlers.find((x: any) => x.handler === h);
  expect(trace.handlers.map((h: any) => h.handler)).toEqual(["flaky", "picky", "steady"]);
  expect(stage("steady")).toMatchObject({ stage: "processed" });
  expect(stage("picky")).toMatchObject({ stage: "dead_lettered", attempts: 1, error: "picky refuses u9" });
  expect(stage("picky").deadLetterId).toMatch(/^[0-9a-f-]{36}$/);
  expect(stage("flaky")).toMatchObject({ stage: "retrying", attempts: 1, consumer: `${ctx.prefix}-main` });
  // Claimable again once idle for CLAIM_IDLE_MS (1.5 s in tests): never later than that from now.
  expect(Date.parse(stage("flaky").nextRetryAt)).toBeLessThanOrEqual(before + 1_500 + 1_000);

  const byAggregate = await get(api, "/events?aggregateId=user-9");
  expect(byAggregate.items.map((t: any) => t.id)).toEqual([id]);
  expect((await get(api, "/events?aggregateId=nobody")).items).toEqual([]);
  expect((await api.call("GET", `/events/${crypto.randomUUID()}`, undefined, bearer)).status).toBe(404);
  expect((await api.call("GET", "/events/not-a-uuid", undefined, bearer)).status).toBe(400);
  expect((await api.call("GET", `/events/${id}`)).status).toBe(401);
});

test("an event the relay has not published yet shows as in the outbox for every handler, and one not yet delivered as waiting", async () => {
  const api = await startTestApi(ctx, { env, subscriptions: operatorHandlers(), parts: { relay: false, consumers: false } });
  // Groups exist (recovery made them at start-up, or a consumer ran before) but nobody reads now.
  for (const h of ["steady", "picky", "flaky"]) await ctx.redis.xgroup("CREATE", keys.stream(ctx.prefix, "user.created"), h, "$", "MKSTREAM").catch(() => {});
  const id = await insertUserEvent(ctx, { userId: "u1" });
  const unpublished = await get(api, `/events/${id}`);
  expect(unpublished).toMatchObject({ inOutbox: true, publishedAt: null, entryId: null });
  expect(unpublished.handlers.map((h: any) => [h.handler, h.stage])).toEqual([["flaky", "unpublished"], ["picky", "unpublished"], ["steady", "unpublished"]]);

  // Published by hand as the relay would, but not delivered.
  const entryId = await ctx.redis.xadd(keys.stream(ctx.prefix, "user.created"), "*", "id", id, "type", "user.created", "payload", "{}");
  await ctx.sql`update outbox set published_at = now(), stream_id = ${entryId} where id = ${id}`;
  const waiting = await get(api, `/events/${id}`);
  expect(waiting.handlers.map((h: any) => [h.handler, h.stage])).toEqual([["flaky", "waiting"], ["picky", "waiting"], ["steady", "waiting"]]);
});

test("GET /fleet lists the machines consuming now, the last recovery from Redis data loss and the outbox backlog with its oldest row", async () => {
  const api = await startTestApi(ctx, { env, subscriptions: operatorHandlers(), parts: { relay: false } });
  await api.engine!.consumersStarted;
  const first = await insertUserEvent(ctx, { userId: "u1" });
  await Bun.sleep(5);
  await insertUserEvent(ctx, { userId: "u2" });

  const fleet = await get(api, "/fleet");
  expect(fleet.machines).toEqual([{ name: `${ctx.prefix}-main`, host: expect.any(String), pid: process.pid, leaseMs: expect.any(Number) }]);
  expect(fleet.machines[0].leaseMs).toBeGreaterThan(0);
  expect(fleet.recovery).toMatchObject({ sentinel: true, by: `${ctx.prefix}-main` });
  expect(Number.isNaN(Date.parse(fleet.recovery.recoveredAt))).toBe(false);
  expect(fleet.outbox).toMatchObject({ backlog: 2, oldest: { id: first, eventType: "user.created" } });
  expect(fleet.outbox.oldestUnpublishedAgeMs).toBeGreaterThanOrEqual(0);

  await ctx.redis.del(keys.epoch(ctx.prefix));
  expect((await get(api, "/fleet")).recovery).toEqual({ sentinel: false, recoveredAt: null, by: null });
  expect((await api.call("GET", "/fleet")).status).toBe(401);
});
