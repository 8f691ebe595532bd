import { afterEach, beforeEach, expect, test } from "bun:test";
import { startTestApi, type TestApi } from "./support/api.ts";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { countRows } from "./support/db.ts";
import { statsOf } from "./support/shop.ts";

const TOKEN = "test-admin-token-123456";
const auth = { Authorization: `Bearer ${TOKEN}` };

let ctx: TestContext;
let api: TestApi;
beforeEach(async () => {
  ctx = await createTestContext();
  api = await startTestApi(ctx, { env: { ADMIN_TOKEN: TOKEN } });
});
afterEach(() => ctx.cleanup());

const userCreated = { eventType: "user.created", tenantId: "tenant-1", payload: { userId: "u1", email: "ada@example.com", role: "buyer" } };

test("POST /events accepts a known event, which reaches its handlers", async () => {
  const res = await api.call("POST", "/events", userCreated, auth);
  expect(res.status).toBe(202);
  expect(res.body).toEqual({ id: expect.any(String), eventType: "user.created", duplicate: false });
  await waitFor("the welcome e-mail", async () => (await countRows(ctx, "notifications")) === 1);
  await waitFor("the counter", async () => (await statsOf(api, "tenant-1")).usersCreated === 1);
  const [mail] = await ctx.sql`select recipient, event_id from notifications`;
  expect(mail).toMatchObject({ recipient: "ada@example.com", event_id: res.body.id });
});

test("the same idempotencyKey again is 200 duplicate with the first id, and no second event", async () => {
  const first = await api.call("POST", "/events", { ...userCreated, idempotencyKey: "crm:u1" }, auth);
  const again = await api.call("POST", "/events", { ...userCreated, idempotencyKey: "crm:u1" }, auth);
  expect(first.status).toBe(202);
  expect(again.status).toBe(200);
  expect(again.body).toEqual({ id: first.body.id, eventType: "user.created", duplicate: true });
  expect(await countRows(ctx, "outbox")).toBe(1);
});

test("tenant.created names the tenant in its stats", async () => {
  const res = await api.call("POST", "/events", { eventType: "tenant.created", payload: { tenantId: "acme", name: "Acme", slug: "acme" } }, auth);
  expect(res.status).toBe(202);
  await waitFor("the tenant", async () => (await statsOf(api, "acme")).name === "Acme");
});

test("fields the schema does not name are kept in the stored payload", async () => {
  await api.call("POST", "/events", { ...userCreated, payload: { ...userCreated.payload, locale: "tr" } }, auth);
  const [row] = await ctx.sql`select payload from outbox`;
  expect(row!.payload).toEqual({ ...userCreated.payload, locale: "tr" });
});

test.each([
  ["an unknown event type", { ...userCreated, eventType: "user.deleted" }, "eventType"],
  ["a payload failing its schema", { ...userCreated, payload: { userId: "u1", email: "nope", role: "buyer" } }, "payload.email"],
  ["a payload missing a field", { ...userCreated, payload: { userId: "u1", email: "a@b.co" } }, "payload.role"],
  ["a payload that is not an object", { ...userCreated, payload: [1, 2] }, "payload"],
  ["a payload nested too deep", { ...userCreated, payload: { ...userCreated.payload, deep: JSON.parse("[".repeat(40) + "]".repeat(40)) } }, "payload"],
  ["a NUL character in the payload", { ...userCreated, payload: { ...userCreated.payload, note: "a\u0000b" } }, "payload"],
  ["a reserved idempotency key", { ...userCreated, idempotencyKey: "orderstream:payment.processed:p1" }, "idempotencyKey"],
  ["an unknown envelope field", { ...userCreated, urgency: 1 }, "urgency"],
] as const)("%s is a 400 naming the field and writes nothing", async (_label, body, field) => {
  const res = await api.call("POST", "/events", body, auth);
  expect(res.status).toBe(400);
  expect(res.body.error.code).toBe("validation_failed");
  expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(field);
  expect(await countRows(ctx, "outbox")).toBe(0);
});

test("without the admin token, or with a wrong one, POST /events is 401 and writes nothing", async () => {
  for (const headers of <Record<string, string>[]>[{}, { Authorization: "Bearer wrong-token-000000000" }, { Authorization: TOKEN }, { Authorization: "Basic abc" }]) {
    const res = await api.call("POST", "/events", userCreated, headers);
    expect(res.status).toBe(401);
    expect(res.body.error).toMatchObject({ code: "unauthorized", requestId: expect.any(String) });
    expect(JSON.stringify(res.body)).not.toContain(TOKEN);
  }
  expect(await countRows(ctx, "outbox")).toBe(0);
});
