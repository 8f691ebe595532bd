// Callers of the business API are authenticated by API keys scoped to one tenant (API_AUTH=keys):
// no key, a wrong or a revoked one is a 401; a key acts only inside its tenant.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { loadConfig } from "../src/config.ts";
import { createApp } from "../src/http/app.ts";
import { createLogger } from "../src/lib/logger.ts";
import { startTestApi, type TestApi } from "./support/api.ts";
import { createTestContext, type TestContext } from "./support/context.ts";
import { countRows } from "./support/db.ts";
import { orderBody } from "./support/shop.ts";

const ADMIN_TOKEN = "api-keys-admin-token-0123456789";
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

let ctx: TestContext;
let api: TestApi;
beforeEach(async () => {
  ctx = await createTestContext();
  api = await startTestApi(ctx, { engine: false, env: { API_AUTH: "keys", ADMIN_TOKEN } });
});
afterEach(() => ctx.cleanup());

async function createKey(tenantId: string): Promise<{ id: string; tenantId: string; key: string }> {
  const res = await api.call("POST", "/api-keys", { tenantId }, admin);
  expect(res.status).toBe(201);
  return res.body;
}

/** A product and an order of `tenantId`, made with its own key. */
async function shopOf(tenantId: string) {
  const { key } = await createKey(tenantId);
  const product = await api.call("POST", "/products", { tenantId, sku: "MUG", name: "Mug", price: 12.5, stock: 5 }, bearer(key));
  expect(product.status).toBe(201);
  const order = await api.call("POST", "/orders", orderBody(tenantId, [{ productId: product.body.id, quantity: 1 }]), bearer(key));
  expect(order.status).toBe(201);
  return { key, productId: product.body.id as string, orderId: order.body.id as string };
}

/** Row counts of everything a business request could write. */
async function written() {
  const tables = ["products", "orders", "outbox", "payments", "idempotency_keys", "api_keys"];
  return Object.fromEntries(await Promise.all(tables.map(async (t) => [t, await countRows(ctx, t)])));
}

describe("POST /api-keys and DELETE /api-keys/:id (admin)", () => {
  test("a key is created for a tenant and shown once; only its SHA-256 is stored", async () => {
    const res = await api.call("POST", "/api-keys", { tenantId: "shop-a" }, admin);
    expect(res.status).toBe(201);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const { id, tenantId, key, ...rest } = res.body as Record<string, string>;
    expect(rest).toEqual({});
    expect(tenantId).toBe("shop-a");
    expect(key).toMatch(/^osk_[A-Za-z0-9_-]{43}$/);
    const rows = await ctx.sql`select * from api_keys`;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id, tenant_id: "shop-a", key_hash: createHash("sha256").update(key!).digest("hex"), revoked_at: null });
    expect(JSON.stringify(rows)).not.toContain(key!.slice(4));
    // Another key for the same tenant is another secret.
    expect((await createKey("shop-a")).key).not.toBe(key);
  });

  test("creating or revoking a key needs the admin token; an API key is not enough", async () => {
    const { id, key } = await createKey("shop-a");
    for (const headers of [{}, bearer(key), { authorization: "Bearer wrong-token-0000000000" }]) {
      const created = await api.call("POST", "/api-keys", { tenantId: "shop-a" }, headers);
      expect(created.status).toBe(401);
      expect(created.headers.get("www-authenticate")).toStartWith("Bearer");
      expect((await api.call("DELETE", `/api-keys/${id}`, undefined, headers)).status).toBe(401);
    }
    expect(await countRows(ctx, "api_keys")).toBe(1);
  });

  test("a tenantId that is not an identifier, or an unknown field, is a 400 naming it", async () => {
    for (const [body, field] of [[{}, "tenantId"], [{ tenantId: "a b" }, "tenantId"], [{ tenantId: "a", scope: "all" }, "scope"]] as const) {
      const res = await api.call("POST", "/api-keys", body, admin);
      expect(res.status).toBe(400);
      expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(field);
    }
    expect(await countRows(ctx, "api_keys")).toBe(0);
  });

  test("DELETE /api-keys/:id revokes the key at once (204, again 204); an unknown id is 404", async () => {
    const { id, key } = await createKey("shop-a");
    expect((await api.call("GET", "/tenants/shop-a/stats", undefined, bearer(key))).status).toBe(200);
    expect((await api.call("DELETE", `/api-keys/${id}`, undefined, admin)).status).toBe(204);
    expect((await api.call("DELETE", `/api-keys/${id}`, undefined, admin)).status).toBe(204);
    const refused = await api.call("GET", "/tenants/shop-a/stats", undefined, bearer(key));
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe("unauthorized");
    expect((await api.call("DELETE", "/api-keys/00000000-0000-4000-8000-000000000000", undefined, admin)).status).toBe(404);
    expect((await api.call("DELETE", "/api-keys/not-a-uuid", undefined, admin)).status).toBe(400);
  });
});

describe("with API_AUTH=keys", () => {
  test("every business route refuses a request without a key, with a wrong one or a made-up one: 401, nothing written", async () => {
    const { productId, orderId, key } = await shopOf("shop-a");
    const before = await written();
    const forged = `osk_${"A".repeat(43)}`;
    const requests: [string, string, unknown?][] = [
      ["POST", "/products", { tenantId: "shop-a", sku: "X", name: "X", price: 1, stock: 1 }],
      ["GET", `/products/${productId}`],
      ["POST", "/orders", orderBody("shop-a", [{ productId, quantity: 1 }])],
      ["GET", `/orders/${orderId}`],
      ["POST", `/orders/${orderId}/cancel`, { reason: "forged" }],
      ["POST", `/orders/${orderId}/payments`, { paymentId: "forged", amount: 12.5, status: "succeeded" }],
      ["GET", "/tenants/shop-a/stats"],
    ];
    for (const [method, path, body] of requests) {
      for (const headers of [{}, bearer(forged), bearer(key.slice(0, -1)), bearer(`${key}x`), { authorization: key }, { "x-api-key": key }] as Record<string, string>[]) {
        const res = await api.call(method, path, body, headers);
        expect({ method, path, status: res.status, code: res.body?.error?.code }).toEqual({ method, path, status: 401, code: "unauthorized" });
        expect(res.headers.get("www-authenticate")).toStartWith("Bearer");
        expect(JSON.stringify(res.body)).not.toContain(key);
      }
    }
    expect(await written()).toEqual(before);
  });

  test("a key acts only inside its tenant: another tenant's product, order and counters are 404, nothing written", async () => {
    const a = await shopOf("shop-a");
    const b = await shopOf("shop-b");
    const before = await written();
    const asB = bearer(b.key);
    for (const [method, path, body] of [
      ["GET", `/products/${a.productId}`], ["GET", `/orders/${a.orderId}`], ["GET", "/tenants/shop-a/stats"],
      ["POST", `/orders/${a.orderId}/cancel`, { reason: "not yours" }],
      ["POST", `/orders/${a.orderId}/payments`, { paymentId: "pay-b", amount: 12.5, status: "succeeded" }],
    ] as [string, string, unknown?][]) {
      const res = await api.call(method, path, body, asB);
      expect({ path, status: res.status, code: res.body.error?.code }).toEqual({ path, status: 404, code: "not_found" });
    }
    expect(await written()).toEqual(before);
    // Its own tenant's are there.
    expect((await api.call("GET", `/orders/${b.orderId}`, undefined, asB)).status).toBe(200);
    expect((await api.call("GET", `/products/${b.productId}`, undefined, asB)).status).toBe(200);
    expect((await api.call("GET", "/tenants/shop-b/stats", undefined, asB)).status).toBe(200);
  });

  test("a body naming another tenant is a 403 forbidden naming tenantId, and nothing is written", async () => {
    const a = await shopOf("shop-a");
    const b = await shopOf("shop-b");
    const before = await written();
    const product = await api.call("POST", "/products", { tenantId: "shop-a", sku: "EVIL", name: "Evil", price: 1, stock: 1 }, bearer(b.key));
    const order = await api.call("POST", "/orders", orderBody("shop-a", [{ productId: a.productId, quantity: 1 }]), bearer(b.key));
    for (const res of [product, order]) {
      expect(res.status).toBe(403);
      expect(res.body.error).toMatchObject({ code: "forbidden", details: [{ path: "tenantId" }] });
    }
    expect(await written()).toEqual(before);
  });

  test("the admin token acts for any tenant", async () => {
    const a = await shopOf("shop-a");
    expect((await api.call("GET", `/orders/${a.orderId}`, undefined, admin)).status).toBe(200);
    expect((await api.call("GET", "/tenants/shop-a/stats", undefined, admin)).status).toBe(200);
    const product = await api.call("POST", "/products", { tenantId: "shop-z", sku: "Z", name: "Z", price: 1, stock: 1 }, admin);
    expect(product.status).toBe(201);
  });
});

describe("API_AUTH", () => {
  test("defaults to keys with NODE_ENV=production and to off elsewhere", () => {
    expect(loadConfig({ NODE_ENV: "production", ADMIN_TOKEN }).API_AUTH).toBe("keys");
    expect(loadConfig({ NODE_ENV: "development" }).API_AUTH).toBe("off");
    expect(loadConfig({ NODE_ENV: "test" }).API_AUTH).toBe("off");
    expect(loadConfig({ NODE_ENV: "development", API_AUTH: "keys" }).API_AUTH).toBe("keys");
    expect(() => loadConfig({ API_AUTH: "maybe" })).toThrow(/API_AUTH/);
  });

  test("off leaves the business API open with one warning at start; a key that is sent still holds its caller to its tenant", async () => {
    const lines: string[] = [];
    const log = createLogger({ level: "info", write: (l) => lines.push(l) });
    const app = createApp({ db: ctx.db, sql: ctx.sql, redis: ctx.redis, config: ctx.config({ API_AUTH: "off", ADMIN_TOKEN }), engine: null, log, version: "test", startedAt: Date.now() });
    const warnings = lines.filter((l) => l.includes("API_AUTH=off"));
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0]!).level).toBe("warn");

    const open = await api.call("GET", "/tenants/any-shop/stats");
    expect(open.status).toBe(401); // this test's api runs with keys
    const res = await app.request("/tenants/any-shop/stats");
    expect(res.status).toBe(200);
    const { key } = await createKey("shop-a");
    expect((await app.request("/tenants/shop-b/stats", { headers: bearer(key) })).status).toBe(404);
    expect((await app.request("/tenants/shop-a/stats", { headers: bearer(`${key}x`) })).status).toBe(401);
  });
});
