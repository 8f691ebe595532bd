// Each webhook provider may act only on the event types and tenants WEBHOOK_SCOPES gives it: a stock
// feed cannot pay orders. A type out of scope is refused when it arrives; a tenant out of scope
// (known only once the webhook names a product or an order) fails for good when it is applied.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { randomBytes, randomUUID } from "node:crypto";
import { loadConfig } from "../src/config.ts";
import { startTestApi, type TestApi } from "./support/api.ts";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { readDeadLetters } from "./support/effects.ts";
import { orderBody } from "./support/shop.ts";
import { signWebhook } from "./support/webhooks.ts";

const STOCK_KEY = randomBytes(32);
const PAY_KEY = randomBytes(32);
const OPEN_KEY = randomBytes(32);
const SECRETS = [["stockfeed", STOCK_KEY], ["psp", PAY_KEY], ["unscoped", OPEN_KEY]].map(([p, k]) => `${p}=whsec_${(k as Buffer).toString("base64")}`).join(",");
const SCOPES = "stockfeed=inventory.stock_updated|inventory.price_updated@shop-a, psp=payment.succeeded";
const ENV = { WEBHOOK_SECRETS: SECRETS, WEBHOOK_SCOPES: SCOPES };
const KEYS: Record<string, Buffer> = { stockfeed: STOCK_KEY, psp: PAY_KEY, unscoped: OPEN_KEY };

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(() => ctx.cleanup());

const send = (api: TestApi, provider: string, type: string, data: unknown, id = `msg_${randomUUID()}`) => {
  const body = JSON.stringify({ type, data });
  return api.call("POST", `/webhooks/${provider}`, body, signWebhook(KEYS[provider]!, body, id));
};
const storedCount = async () => (await ctx.sql<{ n: number }[]>`select (select count(*)::int from webhook_payloads) + (select count(*)::int from outbox where event_type = 'webhook.received') as n`)[0]!.n;

async function product(api: TestApi, tenantId: string, stock = 5) {
  const res = await api.call("POST", "/products", { tenantId, sku: `sku-${randomUUID().slice(0, 8)}`, name: "Mug", price: 10, stock });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

describe("WEBHOOK_SCOPES", () => {
  test("is read as provider=type|type@tenant|tenant entries; * stands for any", () => {
    const { WEBHOOK_SCOPES: scopes } = loadConfig({ ...ENV, WEBHOOK_SCOPES: "stockfeed=inventory.stock_updated@shop-a|shop-b,psp=*@*,unscoped=payment.succeeded" });
    expect(scopes.get("stockfeed")).toEqual({ types: new Set(["inventory.stock_updated"]), tenants: new Set(["shop-a", "shop-b"]) });
    expect(scopes.get("psp")).toEqual({ types: "*", tenants: "*" });
    expect(scopes.get("unscoped")).toEqual({ types: new Set(["payment.succeeded"]), tenants: "*" });
  });

  test.each([
    ["a provider without a secret", "nobody=payment.succeeded", /nobody/],
    ["no types", "psp=@shop-a", /psp/],
    ["a type with spaces", "psp=payment succeeded", /psp/],
    ["a tenant that is not an identifier", "psp=payment.succeeded@shop a", /psp/],
    ["a provider twice", "psp=payment.succeeded,psp=inventory.stock_updated", /psp/],
    ["no =", "psp", /entry 1/],
  ])("%s is a configuration error naming WEBHOOK_SCOPES", (_label, value, names) => {
    expect(() => loadConfig({ ...ENV, WEBHOOK_SCOPES: value })).toThrow(/WEBHOOK_SCOPES/);
    expect(() => loadConfig({ ...ENV, WEBHOOK_SCOPES: value })).toThrow(names);
  });
});

describe("at the HTTP edge", () => {
  test("a type outside the provider's scope is a 403 forbidden and nothing is stored", async () => {
    const api = await startTestApi(ctx, { engine: false, env: ENV });
    const refused = await send(api, "stockfeed", "payment.succeeded", { orderId: randomUUID(), paymentId: "p1", amount: 10 });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: "forbidden", details: [{ path: "type" }] });
    expect((await send(api, "stockfeed", "customer.updated", { customerId: "c1" })).status).toBe(403);
    expect((await send(api, "psp", "inventory.stock_updated", { productId: randomUUID(), stock: 1 })).status).toBe(403);
    expect(await storedCount()).toBe(0);
    expect((await send(api, "stockfeed", "inventory.stock_updated", { productId: randomUUID(), stock: 1 })).status).toBe(202);
  });

  test("a provider without a scope may send only types the service does not act on", async () => {
    const api = await startTestApi(ctx, { engine: false, env: ENV });
    for (const [type, data] of [
      ["payment.succeeded", { orderId: randomUUID(), paymentId: "p1", amount: 10 }],
      ["inventory.stock_updated", { productId: randomUUID(), stock: 1 }],
      ["inventory.price_updated", { productId: randomUUID(), price: 0.01 }],
    ] as const) {
      expect((await send(api, "unscoped", type, data)).status).toBe(403);
    }
    expect(await storedCount()).toBe(0);
    expect((await send(api, "unscoped", "customer.updated", { customerId: "c1" })).status).toBe(202);
  });

  test("a forged signature is a 401 before the scope is looked at", async () => {
    const api = await startTestApi(ctx, { engine: false, env: ENV });
    const body = JSON.stringify({ type: "payment.succeeded", data: { orderId: randomUUID(), paymentId: "p1", amount: 10 } });
    const res = await api.call("POST", "/webhooks/stockfeed", body, signWebhook(PAY_KEY, body));
    expect(res.status).toBe(401);
    expect(await storedCount()).toBe(0);
  });
});

describe("when applied", () => {
  test("a product of a tenant outside the scope is never changed: the webhook fails for good and is dead-lettered", async () => {
    const api = await startTestApi(ctx, { env: ENV });
    const own = await product(api, "shop-a");
    const foreign = await product(api, "shop-b");
    expect((await send(api, "stockfeed", "inventory.stock_updated", { productId: foreign, stock: 999 }, "msg_foreign")).status).toBe(202);
    expect((await send(api, "stockfeed", "inventory.price_updated", { productId: foreign, price: 0.01 }, "msg_foreign_price")).status).toBe(202);
    expect((await send(api, "stockfeed", "inventory.stock_updated", { productId: own, stock: 42 }, "msg_own")).status).toBe(202);

    const letters = await waitFor("two dead letters", async () => {
      const l = await readDeadLetters(ctx);
      return l.length === 2 && l;
    });
    for (const l of letters) expect(l).toMatchObject({ handler: "webhooks", reason: "unrecoverable", error: expect.stringContaining("shop-b") });
    await waitFor("the own product's stock", async () => (await api.call("GET", `/products/${own}`)).body.stock === 42);
    expect((await api.call("GET", `/products/${foreign}`)).body).toMatchObject({ stock: 5, price: 10 });
    const [row] = await ctx.sql<{ status: string; last_error: string }[]>`select status, last_error from webhook_payloads where webhook_id = 'msg_foreign'`;
    expect(row).toMatchObject({ status: "failed", last_error: expect.stringContaining("may not act for tenant shop-b") });
  });

  test("a payment for an order of a tenant outside the scope is never submitted", async () => {
    const api = await startTestApi(ctx, { env: { ...ENV, WEBHOOK_SCOPES: "psp=payment.succeeded@shop-a" } });
    const productId = await product(api, "shop-b");
    const order = (await api.call("POST", "/orders", orderBody("shop-b", [{ productId, quantity: 1 }]))).body;
    expect((await send(api, "psp", "payment.succeeded", { orderId: order.id, paymentId: "p-foreign", amount: 10 })).status).toBe(202);
    await waitFor("a dead letter", async () => (await readDeadLetters(ctx)).length === 1);
    const [payments] = await ctx.sql<{ n: number }[]>`select count(*)::int as n from outbox where event_type = 'payment.processed'`;
    expect(payments!.n).toBe(0);
  });

  test("a stored webhook whose type is no longer in its provider's scope is dead-lettered, not applied", async () => {
    const before = await startTestApi(ctx, { engine: false, env: { ...ENV, WEBHOOK_SCOPES: "stockfeed=*" } });
    const own = await product(before, "shop-a");
    expect((await send(before, "stockfeed", "inventory.stock_updated", { productId: own, stock: 77 })).status).toBe(202);
    // Redeployed with a narrower scope before the handler ran.
    const api = await startTestApi(ctx, { env: { ...ENV, WEBHOOK_SCOPES: "stockfeed=inventory.price_updated" } });
    const [letter] = await waitFor("a dead letter", async () => {
      const l = await readDeadLetters(ctx);
      return l.length === 1 && l;
    });
    expect(letter!.error).toContain("may not send inventory.stock_updated");
    expect((await api.call("GET", `/products/${own}`)).body.stock).toBe(5);
  });
});
