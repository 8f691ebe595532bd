// Hostile callers of a service that requires keys (API_AUTH=keys) and scopes its webhook
// providers: no key or a forged one, another tenant's key, tampered prices and webhook types out
// of scope. Each is a 401, 403, 404 or 409 in the one error shape, and nothing is written.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { startTestApi, type TestApi } from "./support/api.ts";
import { createTestContext, type TestContext } from "./support/context.ts";
import { requestInit, sendAll, snapshot, type Answer } from "./hostile/check.ts";
import type { HostileCase } from "./hostile/cases.ts";
import { missingKeyCases, otherTenantCases, outOfScopeWebhookCases, tamperedPriceCases, type AuthFixtures, type TenantWorld } from "./hostile/auth-cases.ts";

const ADMIN_TOKEN = `hostile-auth-admin-${randomBytes(12).toString("hex")}`;
const STOCK_FEED_KEY = randomBytes(32);
const ENV = {
  API_AUTH: "keys",
  ADMIN_TOKEN,
  WEBHOOK_SECRETS: `stockfeed=whsec_${STOCK_FEED_KEY.toString("base64")}`,
  WEBHOOK_SCOPES: "stockfeed=inventory.stock_updated@shop-a",
};

let ctx: TestContext;
let api: TestApi;
let fixtures: AuthFixtures;
let secrets: string[];

async function tenant(tenantId: string, price: number): Promise<TenantWorld> {
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const { key } = (await api.call("POST", "/api-keys", { tenantId }, admin)).body;
  const auth = { authorization: `Bearer ${key}` };
  const product = await api.call("POST", "/products", { tenantId, sku: "FIXTURE", name: "Fixture", price, stock: 100 }, auth);
  expect(product.status).toBe(201);
  const order = await api.call("POST", "/orders", {
    tenantId, customerId: "c1", customerEmail: "buyer@example.com", items: [{ productId: product.body.id, quantity: 1 }],
    shippingAddress: { firstName: "Ada", lastName: "Lovelace", address1: "1 Main St", city: "Berlin", postalCode: "10115", country: "DE" },
  }, auth);
  expect(order.status).toBe(201);
  return { tenantId, key, productId: product.body.id, price, orderId: order.body.id };
}

beforeAll(async () => {
  ctx = await createTestContext();
  api = await startTestApi(ctx, { engine: false, env: ENV });
  const a = await tenant("shop-a", 12.5);
  const b = await tenant("shop-b", 3);
  const revoked = (await api.call("POST", "/api-keys", { tenantId: "shop-a" }, { authorization: `Bearer ${ADMIN_TOKEN}` })).body;
  expect((await api.call("DELETE", `/api-keys/${revoked.id}`, undefined, { authorization: `Bearer ${ADMIN_TOKEN}` })).status).toBe(204);
  fixtures = { a, b, revokedKey: revoked.key, stockFeedKey: STOCK_FEED_KEY };
  secrets = [ADMIN_TOKEN, a.key, b.key, revoked.key, STOCK_FEED_KEY.toString("base64")];
});
afterAll(() => ctx.cleanup());

async function viaApp(c: HostileCase): Promise<Answer> {
  const res = await api.app.request(`http://localhost${c.path}`, requestInit(c));
  return { status: res.status, headers: res.headers, text: await res.text() };
}

async function run(cases: HostileCase[]) {
  const before = await snapshot(ctx.sql, ctx.redis, ctx.prefix);
  const failures = await sendAll(cases, viaApp, secrets);
  expect(failures.slice(0, 40)).toEqual([]);
  expect(await snapshot(ctx.sql, ctx.redis, ctx.prefix)).toEqual(before);
}

test("a forged payment, cancellation, order or read without a valid key: 401 on every business route, nothing written", async () => {
  const cases = missingKeyCases(fixtures);
  expect(cases.length).toBeGreaterThan(150);
  await run(cases);
});

test("another tenant's key: 404 for its orders, products and counters, 403 for a body naming it, nothing written", async () => {
  await run(otherTenantCases(fixtures));
});

test("a tampered price: 409 price_changed, nothing written", async () => {
  await run(tamperedPriceCases(fixtures));
});

test("a webhook type outside its provider's scope, correctly signed: 403, nothing stored", async () => {
  await run(outOfScopeWebhookCases(fixtures));
});
