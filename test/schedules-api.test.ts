// Delayed events and schedules through the HTTP API: bad input is a 400 naming the field.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { startTestApi, type TestApi } from "./support/api.ts";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { countRows } from "./support/db.ts";

const TOKEN = "test-admin-token-123456";
const auth = { Authorization: `Bearer ${TOKEN}` };

let ctx: TestContext;
let api: TestApi;
beforeEach(async () => {
  ctx = await createTestContext();
  api = await startTestApi(ctx, { env: { ADMIN_TOKEN: TOKEN } });
});
afterEach(() => ctx.cleanup());

const signUp = { eventType: "user.created", tenantId: "tenant-1", payload: { userId: "u1", email: "ada@example.com", role: "buyer" } };
const tick = { cron: "*/5 * * * * *", timezone: "Europe/Istanbul", eventType: "tenant.created", payload: { tenantId: "acme", name: "Acme", slug: "acme" } };
const fieldOf = (body: { error: { details?: { path: string }[] } }) => body.error.details?.map((d) => d.path);

test("POST /events with delayMs publishes later; DELETE before it is due cancels it (204), after publishing it is a 409", async () => {
  const delayed = await api.call("POST", "/events", { ...signUp, delayMs: 60_000 }, auth);
  expect(delayed.status).toBe(202);
  expect(Date.parse(delayed.body.availableAt) - Date.now()).toBeGreaterThan(55_000);
  expect((await api.call("DELETE", `/events/${delayed.body.id}`, undefined, auth)).status).toBe(204);
  expect(await countRows(ctx, "outbox")).toBe(0);
  expect((await api.call("DELETE", `/events/${delayed.body.id}`, undefined, auth)).status).toBe(404);

  const now = await api.call("POST", "/events", { ...signUp, payload: { ...signUp.payload, userId: "u2" }, availableAt: new Date(Date.now() - 3_600_000).toISOString() }, auth);
  expect(now.status).toBe(202); // a past availableAt is published at once
  await waitFor("published", async () => (await ctx.sql`select 1 from outbox where id = ${now.body.id} and published_at is not null`).length === 1);
  const late = await api.call("DELETE", `/events/${now.body.id}`, undefined, auth);
  expect(late.status).toBe(409);
  expect(late.body.error.code).toBe("conflict");
});

test("a delay beyond 30 days, both availableAt and delayMs, or a priority out of range is a 400 naming the field, writing nothing", async () => {
  const cases: [unknown, string][] = [
    [{ ...signUp, delayMs: 31 * 24 * 3_600_000 }, "delayMs"],
    [{ ...signUp, availableAt: new Date(Date.now() + 40 * 24 * 3_600_000).toISOString() }, "availableAt"],
    [{ ...signUp, availableAt: "next tuesday" }, "availableAt"],
    [{ ...signUp, delayMs: 10, availableAt: new Date().toISOString() }, "delayMs"],
    [{ ...signUp, priority: 11 }, "priority"],
  ];
  for (const [body, field] of cases) {
    const res = await api.call("POST", "/events", body, auth);
    expect({ status: res.status, fields: fieldOf(res.body) }).toEqual({ status: 400, fields: [field] });
  }
  expect(await countRows(ctx, "outbox")).toBe(0);
});

test("PUT /schedules/:name creates (201) and replaces (200); GET, pause, resume and DELETE manage it", async () => {
  const created = await api.call("PUT", "/schedules/exchange-rates", tick, auth);
  expect(created.status).toBe(201);
  expect(created.body).toMatchObject({ name: "exchange-rates", cron: tick.cron, timezone: "Europe/Istanbul", catchUp: "latest", paused: false, source: "api", nextFireAt: expect.any(String) });
  expect((await api.call("PUT", "/schedules/exchange-rates", { ...tick, catchUp: "none" }, auth)).status).toBe(200);
  expect((await api.call("GET", "/schedules/exchange-rates", undefined, auth)).body.catchUp).toBe("none");
  expect((await api.call("POST", "/schedules/exchange-rates/pause", undefined, auth)).body.paused).toBe(true);
  expect((await api.call("POST", "/schedules/exchange-rates/resume", undefined, auth)).body.paused).toBe(false);
  expect((await api.call("GET", "/schedules", undefined, auth)).body.items.map((s: { name: string }) => s.name)).toEqual(["exchange-rates"]);
  expect((await api.call("DELETE", "/schedules/exchange-rates", undefined, auth)).status).toBe(204);
  expect((await api.call("GET", "/schedules/exchange-rates", undefined, auth)).status).toBe(404);
  expect((await api.call("GET", "/schedules", undefined)).status).toBe(401);
});

test("an invalid cron, an unknown time zone, a payload failing its type's schema or an unknown catch-up policy is a 400 naming the field", async () => {
  const cases: [unknown, string][] = [
    [{ ...tick, cron: "61 * * * * *" }, "cron"],
    [{ ...tick, cron: "every day" }, "cron"],
    [{ ...tick, timezone: "Mars/Olympus" }, "timezone"],
    [{ ...tick, payload: { tenantId: "acme" } }, "payload.name"],
    [{ ...tick, catchUp: "some" }, "catchUp"],
    [{ ...tick, eventType: "no.such" }, "eventType"],
  ];
  for (const [body, field] of cases) {
    const res = await api.call("PUT", "/schedules/rates", body, auth);
    expect({ status: res.status, fields: fieldOf(res.body)?.filter((p) => p === field) }).toEqual({ status: 400, fields: [field] });
  }
  expect(await countRows(ctx, "schedules")).toBe(0);
});

test("a schedule fires its event type with its payload once per due time, its occurredAt the due time", async () => {
  await api.call("PUT", "/schedules/every-second", { ...tick, cron: "* * * * * *" }, auth);
  await waitFor("three firings", async () => (await countRows(ctx, "outbox")) >= 3, 6_000);
  const rows = await ctx.sql<{ event_type: string; payload: unknown; aggregate_id: string; ms: number }[]>`
    select event_type, payload, aggregate_id, (extract(epoch from created_at) * 1000)::float8 as ms from outbox order by created_at`;
  expect(rows[0]).toMatchObject({ event_type: "tenant.created", payload: tick.payload, aggregate_id: "schedule:every-second" });
  for (const r of rows) expect(r.ms % 1000).toBe(0);
  await waitFor("the handlers ran it", async () => (await ctx.sql`select name from tenant_stats where tenant_id = 'acme'`)[0]?.name === "Acme");
  const health = await api.call("GET", "/health", undefined, auth);
  expect(health.body.checks.schedules.items[0]).toMatchObject({ name: "every-second", lastFiredAt: expect.any(String), nextFireAt: expect.any(String) });
});
