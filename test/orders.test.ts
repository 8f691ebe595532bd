import { afterEach, beforeEach, expect, test } from "bun:test";
import { startTestApi, type TestApi } from "./support/api.ts";
import { createTestContext, type TestContext } from "./support/context.ts";
import { countRows } from "./support/db.ts";
import { createProduct, orderBody } from "./support/shop.ts";

let ctx: TestContext;
let api: TestApi;
// No engine: these tests are about what the request itself writes.
beforeEach(async () => {
  ctx = await createTestContext();
  api = await startTestApi(ctx, { engine: false });
});
afterEach(() => ctx.cleanup());

const PRODUCT = "6f1c1c3e-8a5e-4f7b-9d1e-2b8c0f1a9e11";
const body = (extra: Record<string, unknown> = {}) => orderBody("tenant-123", [{ productId: PRODUCT, quantity: 2, unitPrice: 100 }, { productId: PRODUCT, quantity: 1, unitPrice: 0.1 }], extra);

test("POST /orders answers 201 with the order, and writes the order, its lines and order.created together", async () => {
  const res = await api.call("POST", "/orders", body());
  expect(res.status).toBe(201);
  expect(res.body).toMatchObject({
    id: expect.any(String), orderNumber: expect.stringMatching(/^ORD-\d{8}$/), tenantId: "tenant-123", customerId: "customer-456",
    customerEmail: "customer@example.com", status: "pending", totalAmount: 200.1,
    items: [{ productId: PRODUCT, quantity: 2, unitPrice: 100 }, { productId: PRODUCT, quantity: 1, unitPrice: 0.1 }],
  });
  expect(Number.isNaN(Date.parse(res.body.createdAt))).toBe(false);
  const [event] = await ctx.sql`select event_type, aggregate_id, tenant_id, payload from outbox`;
  expect(event).toMatchObject({ event_type: "order.created", aggregate_id: res.body.id, tenant_id: "tenant-123" });
  expect(event!.payload).toMatchObject({ orderId: res.body.id, orderNumber: res.body.orderNumber, totalAmount: 200.1, customerEmail: "customer@example.com" });
  expect(await countRows(ctx, "order_items")).toBe(2);
});

test("GET /orders/:id returns the order with items and payments; unknown is 404, malformed is 400", async () => {
  const created = (await api.call("POST", "/orders", body({ billingAddress: { firstName: "A", lastName: "B", address1: "x", city: "Berlin", postalCode: "10115", country: "DE" } }))).body;
  const res = await api.call("GET", `/orders/${created.id}`);
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ id: created.id, status: "pending", items: created.items, payments: [], billingAddress: { country: "DE" } });
  expect(res.body.statusReason).toBeUndefined();
  expect((await api.call("GET", "/orders/00000000-0000-4000-8000-000000000000")).status).toBe(404);
  const bad = await api.call("GET", "/orders/not-a-uuid");
  expect(bad.status).toBe(400);
  expect(bad.body.error.details[0].path).toBe("id");
});

test("Idempotency-Key: the same key and body return the first response and create nothing more", async () => {
  const headers = { "Idempotency-Key": "checkout-42" };
  const first = await api.call("POST", "/orders", body(), headers);
  const again = await api.call("POST", "/orders", body(), headers);
  expect(first.status).toBe(201);
  expect(again.status).toBe(201);
  expect(again.body).toEqual(first.body);
  expect(await countRows(ctx, "orders")).toBe(1);
  expect(await countRows(ctx, "outbox")).toBe(1);
});

test("Idempotency-Key: the same key with another body is 409 idempotency_key_reused", async () => {
  const headers = { "Idempotency-Key": "checkout-43" };
  expect((await api.call("POST", "/orders", body(), headers)).status).toBe(201);
  const other = await api.call("POST", "/orders", body({ customerId: "someone-else" }), headers);
  expect(other.status).toBe(409);
  expect(other.body.error.code).toBe("idempotency_key_reused");
  expect(await countRows(ctx, "orders")).toBe(1);
});

test("Idempotency-Key: concurrent requests with one key create one order", async () => {
  const headers = { "Idempotency-Key": "checkout-race" };
  const results = await Promise.all(Array.from({ length: 8 }, () => api.call("POST", "/orders", body(), headers)));
  expect(results.map((r) => r.status)).toEqual(Array(8).fill(201));
  expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
  expect(await countRows(ctx, "orders")).toBe(1);
});

test("an Idempotency-Key longer than 255 characters is 400", async () => {
  const res = await api.call("POST", "/orders", body(), { "Idempotency-Key": "k".repeat(256) });
  expect(res.status).toBe(400);
  expect(res.body.error.details[0].path).toBe("Idempotency-Key");
  expect(await countRows(ctx, "orders")).toBe(0);
});

const item = { productId: PRODUCT, quantity: 1, unitPrice: 5 };
const address = orderBody("t", []).shippingAddress;

test.each([
  ["quantity 0", { items: [{ ...item, quantity: 0 }] }, "items.0.quantity"],
  ["quantity 1001", { items: [{ ...item, quantity: 1001 }] }, "items.0.quantity"],
  ["fractional quantity", { items: [{ ...item, quantity: 1.5 }] }, "items.0.quantity"],
  ["product id not a uuid", { items: [{ ...item, productId: "product-789" }] }, "items.0.productId"],
  ["unit price with 3 decimals", { items: [{ ...item, unitPrice: 1.999 }] }, "items.0.unitPrice"],
  ["negative unit price", { items: [{ ...item, unitPrice: -1 }] }, "items.0.unitPrice"],
  ["no items", { items: [] }, "items"],
  ["101 items", { items: Array(101).fill(item) }, "items"],
  ["a total above numeric(12,2)", { items: Array(100).fill({ ...item, quantity: 1000, unitPrice: 9_999_999 }) }, "items"],
  ["unknown country", { shippingAddress: { ...address, country: "XX" } }, "shippingAddress.country"],
  ["lower-case country", { shippingAddress: { ...address, country: "tr" } }, "shippingAddress.country"],
  ["missing city", { shippingAddress: { ...address, city: undefined } }, "shippingAddress.city"],
  ["bad e-mail", { customerEmail: "not-an-email" }, "customerEmail"],
  ["tenant id with spaces", { tenantId: "tenant 1" }, "tenantId"],
  ["unknown field", { coupon: "FREE" }, "coupon"],
  ["unknown item field", { items: [{ ...item, discount: 1 }] }, "items.0.discount"],
] as const)("%s is a 400 naming the field, and nothing is written", async (_label, change, field) => {
  const res = await api.call("POST", "/orders", { ...orderBody("tenant-123", [item]), ...change });
  expect(res.status).toBe(400);
  expect(res.body.error.code).toBe("validation_failed");
  expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(field);
  expect(await countRows(ctx, "orders")).toBe(0);
  expect(await countRows(ctx, "outbox")).toBe(0);
});

test("an order may name a product that does not exist yet: it is accepted and decided by inventory", async () => {
  const product = await createProduct(api, "tenant-123", "SKU-1", 5);
  const res = await api.call("POST", "/orders", orderBody("tenant-123", [{ productId: product.id, quantity: 1, unitPrice: 10 }, item]));
  expect(res.status).toBe(201);
});
