// Thousands of malformed and hostile requests to every endpoint through app.request(): each gets
// a 4xx in the one error shape, none a 5xx, and nothing is written. Seeded: HOSTILE_SEED=<n>
// reproduces a run; each failure names its case.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startTestApi, type TestApi } from "./support/api.ts";
import { createTestContext, type TestContext } from "./support/context.ts";
import { requestInit, sendAll, snapshot, type Answer } from "./hostile/check.ts";
import type { HostileCase } from "./hostile/cases.ts";
import { apiCases } from "./hostile/endpoints.ts";
import { createFixtures, HOSTILE_ENV, SECRETS, WEBHOOK_KEYS, type WorldFixtures } from "./hostile/fixtures.ts";
import { shopeeCases, standardWebhookCases } from "./hostile/webhook-cases.ts";

let ctx: TestContext;
let api: TestApi;
let fixtures: WorldFixtures;
let sent = 0;

// One world for the whole file: the fixtures are what a wrongly accepted request would change.
beforeAll(async () => {
  ctx = await createTestContext();
  api = await startTestApi(ctx, { engine: false, env: HOSTILE_ENV });
  fixtures = await createFixtures(ctx, (m, p, b, h) => api.call(m, p, b, h));
});
afterAll(async () => {
  console.log(`hostile-api: ${sent} requests sent`);
  await ctx.cleanup();
});

async function viaApp(c: HostileCase): Promise<Answer> {
  const res = await api.app.request(`http://localhost${c.path}`, requestInit(c));
  return { status: res.status, headers: res.headers, text: await res.text() };
}

async function run(cases: HostileCase[]) {
  const before = await snapshot(ctx.sql, ctx.redis, ctx.prefix);
  sent += cases.length;
  const failures = await sendAll(cases, viaApp, SECRETS);
  expect(failures.slice(0, 40)).toEqual([]);
  expect(await snapshot(ctx.sql, ctx.redis, ctx.prefix)).toEqual(before);
}

const group = (prefix: string) => (c: HostileCase) => c.name.startsWith(prefix);

test("POST /products: every malformed body is a 400 (413 when too large), nothing written", async () => {
  await run(apiCases(fixtures).filter(group("POST /products ")));
});

test("POST /orders and its Idempotency-Key: every malformed request is refused, nothing written", async () => {
  await run(apiCases(fixtures).filter(group("POST /orders ")));
});

test("POST /orders/:id/cancel and /payments on an existing order: every malformed body is refused, nothing written", async () => {
  await run(apiCases(fixtures).filter((c) => /^POST \/orders\/[^/ ]+\/(cancel|payments) /.test(c.name) && c.path.startsWith(`/orders/${fixtures.orderId}`)));
});

test("POST /events and POST /dlq/retry with the admin token: every malformed body is refused, nothing written", async () => {
  await run(apiCases(fixtures).filter((c) => (group("POST /events ")(c) || group("POST /dlq/retry ")(c)) && !c.name.includes("admin token")));
});

test("bad path parameters on every route with an id are a 400 or 404", async () => {
  await run(apiCases(fixtures).filter((c) => / id=| provider=/.test(c.name)));
});

test("bad query parameters on GET /dlq are a 400", async () => {
  await run(apiCases(fixtures).filter(group("GET /dlq?")));
});

test("every admin endpoint refuses a missing, wrong or malformed token with 401", async () => {
  await run(apiCases(fixtures).filter((c) => c.name.includes("admin token")));
});

test("unknown routes and methods, hostile X-Request-Id: the error shape with a fresh request id", async () => {
  await run(apiCases(fixtures).filter((c) => c.name.includes("no such route") || c.name.includes("X-Request-Id")));
});

test("Standard Webhooks: missing headers, forged, stale, future, replayed and wrongly keyed signatures are 401; bad bodies 400", async () => {
  await run(standardWebhookCases({ ...WEBHOOK_KEYS, productId: fixtures.productId, storedId: fixtures.webhookId }));
});

test("Shopee pushes: forged, stale or wrongly keyed are 401; signed but malformed are 400", async () => {
  await run(shopeeCases({ ...WEBHOOK_KEYS, productId: fixtures.productId, storedId: fixtures.webhookId }));
});

test("an exact replay of a stored webhook is a 200 duplicate that writes nothing", async () => {
  const before = await snapshot(ctx.sql, ctx.redis, ctx.prefix);
  const replay = await api.call("POST", "/webhooks/acme", fixtures.webhookBody, fixtures.webhookHeaders);
  expect(replay.status).toBe(200);
  expect(replay.body).toEqual({ received: true, duplicate: true });
  expect(await snapshot(ctx.sql, ctx.redis, ctx.prefix)).toEqual(before);
});

test("every case is covered by one of the tests above, and there are thousands", () => {
  const all = apiCases(fixtures);
  const covered = all.filter((c) =>
    [/^POST \/products /, /^POST \/orders /, /^POST \/orders\/[^/ ]+\/(cancel|payments) /, /^POST \/(events|dlq\/retry) /, / id=| provider=/, /^GET \/dlq\?/, /admin token/, /no such route|X-Request-Id/].some((r) => r.test(c.name)),
  );
  expect(all.length - covered.length).toBe(0);
  const webhooks = standardWebhookCases({ ...WEBHOOK_KEYS, productId: fixtures.productId, storedId: fixtures.webhookId }).length + shopeeCases({ ...WEBHOOK_KEYS, productId: fixtures.productId, storedId: fixtures.webhookId }).length;
  expect(all.length + webhooks).toBeGreaterThan(2000);
});
