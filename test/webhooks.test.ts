import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { randomBytes, randomUUID } from "node:crypto";
import { signShopeePush, shopeeWebhookId } from "../src/webhooks/verify-shopee.ts";
import { signStandardWebhook } from "../src/webhooks/verify-standard.ts";
import { startTestApi, type TestApi } from "./support/api.ts";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { readDeadLetters } from "./support/effects.ts";

const KEY = randomBytes(32);
const OTHER_KEY = randomBytes(32);
const ADMIN_TOKEN = "test-admin-token-123456";
const PARTNER_KEY = "shpk-test-partner-key";
const ENV = {
  WEBHOOK_SECRETS: `acme=whsec_${KEY.toString("base64")},other=whsec_${OTHER_KEY.toString("base64")}`,
  // acme may act on every type and tenant; the limits are test/webhook-scopes.test.ts's subject.
  WEBHOOK_SCOPES: "acme=*",
  ADMIN_TOKEN,
  SHOPEE_PARTNER_KEY: PARTNER_KEY,
};
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const nowS = () => Math.floor(Date.now() / 1000);

interface SignOptions {
  id?: string;
  timestamp?: number;
  key?: Buffer;
}

/** Standard Webhooks headers for `body`, signed with `key` (the acme secret by default). */
function signed(body: string, { id = `msg_${randomUUID()}`, timestamp = nowS(), key = KEY }: SignOptions = {}) {
  return { "webhook-id": id, "webhook-timestamp": String(timestamp), "webhook-signature": `v1,${signStandardWebhook(key, id, timestamp, body)}` };
}

const send = (api: TestApi, body: string, headers: Record<string, string>, provider = "acme") => api.call("POST", `/webhooks/${provider}`, body, headers);

async function stored(ctx: TestContext) {
  const [row] = await ctx.sql<{ payloads: number; events: number }[]>`
    select (select count(*)::int from webhook_payloads) as payloads,
           (select count(*)::int from outbox where event_type = 'webhook.received') as events`;
  return row!;
}

async function webhookRow(ctx: TestContext, webhookId: string) {
  // Timestamps come back as text: drizzle replaces postgres.js's date parsers on the shared client.
  const [row] = await ctx.sql<{ id: string; provider: string; event_type: string; raw_body: string; status: string; result: string | null; retry_count: number; last_error: string | null; processed_at: string | null }[]>`
    select * from webhook_payloads where webhook_id = ${webhookId}`;
  return row;
}

const completed = (ctx: TestContext, webhookId: string) =>
  waitFor(`webhook ${webhookId} completed`, async () => {
    const row = await webhookRow(ctx, webhookId);
    return row?.status === "completed" && row;
  });

async function createProduct(api: TestApi, price = 10, stock = 5): Promise<string> {
  const res = await api.call("POST", "/products", { tenantId: "shop1", sku: `sku-${randomUUID().slice(0, 8)}`, name: "Mug", price, stock });
  expect(res.status).toBe(201);
  return res.body.id;
}

let ctx: TestContext;
beforeEach(async () => {
  ctx = await createTestContext();
});
afterEach(async () => {
  await ctx.cleanup();
});

describe("POST /webhooks/:provider (Standard Webhooks)", () => {
  test("a signed webhook is stored with its webhook.received event and answered 202", async () => {
    const api = await startTestApi(ctx, { engine: false, env: ENV });
    const body = JSON.stringify({ type: "customer.updated", timestamp: new Date().toISOString(), data: { customerId: "c1" } });
    const headers = signed(body, { id: "msg_first" });

    const res = await send(api, body, headers);

    expect(res.status).toBe(202);
    expect(res.body).toEqual({ received: true, id: expect.any(String), duplicate: false });
    const row = await webhookRow(ctx, "msg_first");
    expect(row).toMatchObject({ id: res.body.id, provider: "acme", event_type: "customer.updated", raw_body: body, status: "pending", retry_count: 0 });
    const [event] = await ctx.sql<{ payload: unknown; aggregate_id: string }[]>`select payload, aggregate_id from outbox where event_type = 'webhook.received'`;
    expect(event).toEqual({ aggregate_id: res.body.id, payload: { webhookPayloadId: res.body.id, provider: "acme", webhookId: "msg_first", type: "customer.updated" } });
  });

  test("the same webhook-id again is a 200 duplicate and stores nothing new", async () => {
    const api = await startTestApi(ctx, { engine: false, env: ENV });
    const body = JSON.stringify({ type: "customer.updated", data: {} });
    const headers = signed(body, { id: "msg_dup" });

    expect((await send(api, body, headers)).status).toBe(202);
    const again = await send(api, body, signed(body, { id: "msg_dup" }));

    expect(again.status).toBe(200);
    expect(again.body).toEqual({ received: true, duplicate: true });
    expect(await stored(ctx)).toEqual({ payloads: 1, events: 1 });
  });

  test("the same webhook-id from another provider is another webhook", async () => {
    const api = await startTestApi(ctx, { engine: false, env: ENV });
    const body = JSON.stringify({ type: "customer.updated", data: {} });

    expect((await send(api, body, signed(body, { id: "msg_shared" }))).status).toBe(202);
    expect((await send(api, body, signed(body, { id: "msg_shared", key: OTHER_KEY }), "other")).status).toBe(202);

    expect(await stored(ctx)).toEqual({ payloads: 2, events: 2 });
  });

  test("several signatures of which one is valid are accepted", async () => {
    const api = await startTestApi(ctx, { engine: false, env: ENV });
    const body = JSON.stringify({ type: "customer.updated", data: {} });
    const headers = signed(body);
    const wrong = signStandardWebhook(OTHER_KEY, headers["webhook-id"], headers["webhook-timestamp"], body);
    headers["webhook-signature"] = `v1,${wrong} v2,abc ${headers["webhook-signature"]}`;

    expect((await send(api, body, headers)).status).toBe(202);
  });

  test("an unknown provider is a 404", async () => {
    const api = await startTestApi(ctx, { engine: false, env: ENV });
    const body = JSON.stringify({ type: "customer.updated", data: {} });

    const res = await send(api, body, signed(body), "nobody");

    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("not_found");
    expect(await stored(ctx)).toEqual({ payloads: 0, events: 0 });
  });

  describe("is refused with 401 invalid_signature, storing nothing", () => {
    const body = JSON.stringify({ type: "inventory.stock_updated", data: { productId: randomUUID(), stock: 1 } });
    const cases: [string, () => Record<string, string>][] = [
      ["without headers", () => ({})],
      ["without webhook-signature", () => {
        const { "webhook-signature": _, ...rest } = signed(body);
        return rest;
      }],
      ["without webhook-id", () => {
        const { "webhook-id": _, ...rest } = signed(body);
        return rest;
      }],
      ["with a forged signature", () => ({ ...signed(body), "webhook-signature": `v1,${randomBytes(32).toString("base64")}` })],
      ["with a signature of another body", () => ({ ...signed(body), "webhook-signature": signed(body.replace("1}", "2}"))["webhook-signature"] })],
      ["signed with the wrong secret", () => signed(body, { key: OTHER_KEY })],
      ["with a stale timestamp", () => signed(body, { timestamp: nowS() - 6 * 60 })],
      ["with a future timestamp", () => signed(body, { timestamp: nowS() + 6 * 60 })],
      ["with a timestamp that is not Unix seconds", () => {
        const h = signed(body);
        return { ...h, "webhook-timestamp": new Date().toISOString() };
      }],
      ["with a signature that is not v1", () => ({ ...signed(body), "webhook-signature": signed(body)["webhook-signature"].replace("v1,", "v2,") })],
    ];
    for (const [name, headers] of cases) {
      test(name, async () => {
        const api = await startTestApi(ctx, { engine: false, env: ENV });
        const sent = headers();

        const res = await send(api, body, sent);

        expect(res.status).toBe(401);
        expect(res.body.error).toMatchObject({ code: "invalid_signature", requestId: expect.any(String) });
        const expected = signStandardWebhook(KEY, sent["webhook-id"] ?? "", sent["webhook-timestamp"] ?? "", body);
        expect(JSON.stringify(res.body)).not.toContain(expected);
        expect(await stored(ctx)).toEqual({ payloads: 0, events: 0 });
      });
    }
  });

  describe("is refused with 400 validation_failed naming the field, storing nothing", () => {
    const cases: [string, string, string][] = [
      ["malformed JSON", '{"type": "inventory.stock_updated", "data": {', "(body)"],
      ["an empty body", "", "(body)"],
      ["a body that is not an object", "[1, 2]", "(body)"],
      ["a missing type", JSON.stringify({ data: {} }), "type"],
      ["a productId that is not a uuid", JSON.stringify({ type: "inventory.stock_updated", data: { productId: "p1", stock: 3 } }), "data.productId"],
      ["a negative stock", JSON.stringify({ type: "inventory.stock_updated", data: { productId: randomUUID(), stock: -1 } }), "data.stock"],
      ["a fractional stock", JSON.stringify({ type: "inventory.stock_updated", data: { productId: randomUUID(), stock: 1.5 } }), "data.stock"],
      ["a price with 3 decimals", JSON.stringify({ type: "inventory.price_updated", data: { productId: randomUUID(), price: 1.005 } }), "data.price"],
      ["a price sent as a string", JSON.stringify({ type: "inventory.price_updated", data: { productId: randomUUID(), price: "9.99" } }), "data.price"],
      ["a payment without data", JSON.stringify({ type: "payment.succeeded" }), "data"],
      ["a paymentId with spaces", JSON.stringify({ type: "payment.succeeded", data: { orderId: randomUUID(), paymentId: "pay 1", amount: 5 } }), "data.paymentId"],
      ["a NUL character", JSON.stringify({ type: "customer.updated", data: { note: "a\u0000b" } }), "(body)"],
      ["a lone surrogate", '{"type": "customer.updated", "data": {"note": "\\ud800"}}', "(body)"],
      ["nesting deeper than 32", JSON.stringify({ type: "customer.updated", data: JSON.parse("[".repeat(40) + "]".repeat(40)) }), "(body)"],
    ];
    for (const [name, body, path] of cases) {
      test(name, async () => {
        const api = await startTestApi(ctx, { engine: false, env: ENV });

        const res = await send(api, body, signed(body));

        expect(res.status).toBe(400);
        expect(res.body.error.code).toBe("validation_failed");
        expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
        expect(await stored(ctx)).toEqual({ payloads: 0, events: 0 });
      });
    }

    test("a webhook-id that is not printable ASCII", async () => {
      const api = await startTestApi(ctx, { engine: false, env: ENV });
      const body = JSON.stringify({ type: "customer.updated", data: {} });

      const res = await send(api, body, signed(body, { id: "msg with spaces" }));

      expect(res.status).toBe(400);
      expect(res.body.error.details).toEqual([{ path: "webhook-id", message: expect.any(String) }]);
      expect(await stored(ctx)).toEqual({ payloads: 0, events: 0 });
    });
  });
});

describe("the webhooks handler", () => {
  test("inventory.stock_updated sets the product's stock", async () => {
    const api = await startTestApi(ctx, { env: ENV });
    const productId = await createProduct(api, 10, 5);
    const body = JSON.stringify({ type: "inventory.stock_updated", data: { productId, stock: 42 } });

    expect((await send(api, body, signed(body, { id: "msg_stock" }))).status).toBe(202);

    const row = await completed(ctx, "msg_stock");
    expect(row).toMatchObject({ result: "applied", retry_count: 0, last_error: null });
    expect(row.processed_at).not.toBeNull();
    expect((await api.call("GET", `/products/${productId}`)).body.stock).toBe(42);
  });

  test("inventory.price_updated sets the product's price", async () => {
    const api = await startTestApi(ctx, { env: ENV });
    const productId = await createProduct(api, 10, 5);
    const body = JSON.stringify({ type: "inventory.price_updated", data: { productId, price: 12.34 } });

    expect((await send(api, body, signed(body, { id: "msg_price" }))).status).toBe(202);

    expect(await completed(ctx, "msg_price")).toMatchObject({ result: "applied" });
    expect((await api.call("GET", `/products/${productId}`)).body.price).toBe(12.34);
  });

  test("payment.succeeded pays a confirmed order, as a payment through the API would", async () => {
    const api = await startTestApi(ctx, { env: ENV });
    const productId = await createProduct(api, 10, 5);
    const order = await api.call("POST", "/orders", {
      tenantId: "shop1", customerId: "cust-1", customerEmail: "buyer@example.com",
      items: [{ productId, quantity: 2, unitPrice: 10 }],
      shippingAddress: { firstName: "Ada", lastName: "Lovelace", address1: "1 Main St", city: "Berlin", postalCode: "10115", country: "DE" },
    });
    expect(order.status).toBe(201);
    const orderId: string = order.body.id;
    await waitFor("order confirmed", async () => (await api.call("GET", `/orders/${orderId}`)).body.status === "confirmed");
    const body = JSON.stringify({ type: "payment.succeeded", data: { orderId, paymentId: "pay_hook_1", amount: 20 } });

    expect((await send(api, body, signed(body, { id: "msg_pay" }))).status).toBe(202);

    expect(await completed(ctx, "msg_pay")).toMatchObject({ result: "applied" });
    const paid = await waitFor("order paid", async () => {
      const view = (await api.call("GET", `/orders/${orderId}`)).body;
      return view.status === "paid" && view;
    });
    expect(paid.payments).toEqual([expect.objectContaining({ paymentId: "pay_hook_1", amount: 20, status: "succeeded", applied: true })]);
    // The same payment submitted through the API afterwards is the same event.
    const viaApi = await api.call("POST", `/orders/${orderId}/payments`, { paymentId: "pay_hook_1", amount: 20, status: "succeeded" });
    expect(viaApi.body.duplicate).toBe(true);
  });

  test("an unknown type is completed as ignored", async () => {
    const api = await startTestApi(ctx, { env: ENV });
    const body = JSON.stringify({ type: "customer.updated", data: { customerId: "c1" } });

    expect((await send(api, body, signed(body, { id: "msg_unknown" }))).status).toBe(202);

    expect(await completed(ctx, "msg_unknown")).toMatchObject({ result: "ignored", retry_count: 0, last_error: null });
  });

  test("a webhook for an unknown product fails, records why, and is dead-lettered at once", async () => {
    const api = await startTestApi(ctx, { env: ENV });
    const productId = randomUUID();
    const body = JSON.stringify({ type: "inventory.stock_updated", data: { productId, stock: 1 } });

    expect((await send(api, body, signed(body, { id: "msg_missing" }))).status).toBe(202);

    const row = await waitFor("webhook failed", async () => {
      const r = await webhookRow(ctx, "msg_missing");
      return r?.status === "failed" && r;
    });
    expect(row).toMatchObject({ retry_count: 1, result: null, processed_at: null });
    expect(row.last_error).toContain(`product ${productId} does not exist`);
    const [dead] = await waitFor("a dead letter", async () => {
      const letters = await readDeadLetters(ctx);
      return letters.length > 0 && letters;
    });
    expect(dead).toMatchObject({ handler: "webhooks", eventType: "webhook.received", reason: "unrecoverable", attempts: "1" });
    expect(dead!.error).toContain(productId);
    expect((await webhookRow(ctx, "msg_missing"))!.retry_count).toBe(1);
  });
});

describe("POST /webhooks/shopee (Shopee push)", () => {
  const push = (code = 3, timestamp = nowS()) => JSON.stringify({ code, shop_id: 600001, timestamp, data: { ordersn: "2401010ABCDEF", status: "READY_TO_SHIP" } });
  const pushTo = (api: TestApi, body: string, authorization: string) => api.call("POST", "/webhooks/shopee", body, { authorization });

  test("a signed push is stored under a digest of its body and completed as ignored; a replay is a duplicate", async () => {
    const api = await startTestApi(ctx, { env: ENV });
    const body = push(3);

    const res = await pushTo(api, body, signShopeePush(PARTNER_KEY, "http://localhost/webhooks/shopee", body));

    expect(res.status).toBe(202);
    const webhookId = shopeeWebhookId(body);
    expect(await completed(ctx, webhookId)).toMatchObject({ id: res.body.id, provider: "shopee", event_type: "shopee.3", raw_body: body, result: "ignored" });
    const replay = await pushTo(api, body, signShopeePush(PARTNER_KEY, "http://localhost/webhooks/shopee", body));
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual({ received: true, duplicate: true });
    expect(await stored(ctx)).toEqual({ payloads: 1, events: 1 });
  });

  test("the signature covers SHOPEE_CALLBACK_URL when it is set", async () => {
    const url = "https://shop.example.com/webhooks/shopee";
    const api = await startTestApi(ctx, { engine: false, env: { ...ENV, SHOPEE_CALLBACK_URL: url } });
    const body = push(4);

    expect((await pushTo(api, body, signShopeePush(PARTNER_KEY, "http://localhost/webhooks/shopee", body))).status).toBe(401);
    expect((await pushTo(api, body, signShopeePush(PARTNER_KEY, url, body))).status).toBe(202);
  });

  test("a forged, missing, wrongly keyed or stale push is a 401 and stores nothing", async () => {
    const api = await startTestApi(ctx, { engine: false, env: ENV });
    const url = "http://localhost/webhooks/shopee";
    const body = push(3);
    const stale = push(3, nowS() - 10 * 60);

    for (const [sent, authorization] of [
      [body, randomBytes(32).toString("hex")],
      [body, ""],
      [body, "not-hex"],
      [body, signShopeePush("another-partner-key", url, body)],
      [body, signShopeePush(PARTNER_KEY, url, push(5))],
      [stale, signShopeePush(PARTNER_KEY, url, stale)],
    ] as const) {
      const res = await pushTo(api, sent, authorization);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe("invalid_signature");
    }
    expect(await stored(ctx)).toEqual({ payloads: 0, events: 0 });
  });

  test("a signed push without a timestamp is a 400 naming it", async () => {
    const api = await startTestApi(ctx, { engine: false, env: ENV });
    const body = JSON.stringify({ code: 3, shop_id: 1, data: {} });

    const res = await pushTo(api, body, signShopeePush(PARTNER_KEY, "http://localhost/webhooks/shopee", body));

    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([{ path: "timestamp", message: expect.any(String) }]);
    expect(await stored(ctx)).toEqual({ payloads: 0, events: 0 });
  });

  test("without SHOPEE_PARTNER_KEY or a shopee secret, /webhooks/shopee is unknown", async () => {
    const api = await startTestApi(ctx, { engine: false, env: { WEBHOOK_SECRETS: ENV.WEBHOOK_SECRETS } });
    const body = push(3);

    expect((await pushTo(api, body, signShopeePush(PARTNER_KEY, "http://localhost/webhooks/shopee", body))).status).toBe(404);
  });
});

describe("GET /webhooks/:provider/:webhookId", () => {
  test("shows the stored webhook and its status to the admin only", async () => {
    const api = await startTestApi(ctx, { env: ENV });
    const body = JSON.stringify({ type: "customer.updated", data: { customerId: "c1" } });
    const res = await send(api, body, signed(body, { id: "msg_view" }));
    await completed(ctx, "msg_view");

    const view = await api.call("GET", "/webhooks/acme/msg_view", undefined, admin);

    expect(view.status).toBe(200);
    expect(view.body).toEqual({
      id: res.body.id, provider: "acme", webhookId: "msg_view", eventType: "customer.updated",
      status: "completed", retryCount: 0, lastError: null, result: "ignored",
      receivedAt: expect.any(String), processedAt: expect.any(String),
      payload: { type: "customer.updated", data: { customerId: "c1" } },
    });
    expect((await api.call("GET", "/webhooks/acme/msg_view")).status).toBe(401);
    const wrong = await api.call("GET", "/webhooks/acme/msg_view", undefined, { authorization: "Bearer wrong-admin-token-000000" });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe("unauthorized");
  });

  test("an unknown webhook, or one of another provider, is a 404", async () => {
    const api = await startTestApi(ctx, { engine: false, env: ENV });
    const body = JSON.stringify({ type: "customer.updated", data: {} });
    await send(api, body, signed(body, { id: "msg_known" }));

    for (const path of ["/webhooks/acme/msg_nope", "/webhooks/other/msg_known", "/webhooks/acme/msg%00known"]) {
      const res = await api.call("GET", path, undefined, admin);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe("not_found");
    }
  });
});

test("the webhooks handler runs one event per transaction, as inventory does: its product locks never wait on a batch", async () => {
  const { createSubscriptions } = await import("../src/handlers/index.ts");
  const { HANDLER_DEFAULTS } = await import("../src/engine/index.ts");
  const subs = createSubscriptions({ db: ctx.db, log: ctx.log }).filter((s) => s.handler === "webhooks" || s.handler === "inventory");
  expect(subs.length).toBeGreaterThan(1);
  for (const s of subs) expect({ handler: s.handler, batchSize: s.options?.batchSize ?? HANDLER_DEFAULTS.batchSize }).toEqual({ handler: s.handler, batchSize: 1 });
});
