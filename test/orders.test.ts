import { afterEach, beforeEach, expect, test } from "bun:test";
import { startTestApi, type TestApi } from "./support/api.ts";
import { createTestContext, type TestContext } from "./support/context.ts";
import { countRows } from "./support/db.ts";
import { orderBody } from "./support/shop.ts";

let ctx: TestContext;
let api: TestApi;
let MUG: string;
let PEN: string;
// No engine: these tests are about what the request itself writes. The catalog is inserted by SQL
// so that the outbox holds only what the orders write.
beforeEach(async () => {
  ctx = await createTestContext();
  api = await startTestApi(ctx, { engine: false });
  MUG = await insertProduct("tenant-123", "MUG", 100);
  PEN = await insertProduct("tenant-123", "PEN", 0.1);
});
afterEach(() => ctx.cleanup());

async function insertProduct(tenantId: string, sku: string, price: number): Promise<string> {
  const [row] = await ctx.sql<{ id: string }[]>`insert into products (tenant_id, sku, name, price, stock) values (${tenantId}, ${sku}, ${sku}, ${price}, 10) returning id`;
  return row!.id;
}

const UNKNOWN = "6f1c1c3e-8a5e-4f7b-9d1e-2b8c0f1a9e11";
const body = (extra: Record<string, unknown> = {}) => orderBody("tenant-123", [{ productId: MUG, quantity: 2, unitPrice: 100 }, { productId: PEN, quantity: 1, unitPrice: 0.1 }], extra);
const orderEvents = async () => (await ctx.sql<{ n: number }[]>`select count(*)::int as n from outbox where event_type = 'order.created'`)[0]!.n;

test("POST /orders answers 201 with the order, and writes the order, its lines and order.created together", async () => {
  const res = await api.call("POST", "/orders", body());
  expect(res.status).toBe(201);
  expect(res.body).toMatchObject({
    id: expect.any(String), orderNumber: expect.stringMatching(/^ORD-\d{8}$/), tenantId: "tenant-123", customerId: "customer-456",
    customerEmail: "customer@example.com", status: "pending", totalAmount: 200.1,
    items: [{ productId: MUG, quantity: 2, unitPrice: 100 }, { productId: PEN, quantity: 1, unitPrice: 0.1 }],
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
  expect(await orderEvents()).toBe(1);
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

const item = { productId: UNKNOWN, quantity: 1, unitPrice: 5 };
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

test("an order may name a product the tenant does not have: it is accepted, keeps the price sent (0 without one), and inventory decides it", async () => {
  const res = await api.call("POST", "/orders", orderBody("tenant-123", [{ productId: MUG, quantity: 1 }, item, { productId: UNKNOWN, quantity: 2 }]));
  expect(res.status).toBe(201);
  expect(res.body.items.map((i: { unitPrice: number }) => i.unitPrice)).toEqual([100, 5, 0]);
  expect(res.body.totalAmount).toBe(105);
});

test("line prices come from the catalog: without unitPrice each line is priced at its product's price when the order is placed", async () => {
  const first = await api.call("POST", "/orders", orderBody("tenant-123", [{ productId: MUG, quantity: 3 }, { productId: PEN, quantity: 1 }]));
  expect(first.status).toBe(201);
  expect(first.body).toMatchObject({ totalAmount: 300.1, items: [{ productId: MUG, quantity: 3, unitPrice: 100 }, { productId: PEN, quantity: 1, unitPrice: 0.1 }] });
  const [event] = await ctx.sql`select payload from outbox where event_type = 'order.created'`;
  expect(event!.payload).toMatchObject({ totalAmount: 300.1, items: [{ productId: MUG, unitPrice: 100 }, { productId: PEN, unitPrice: 0.1 }] });

  await ctx.sql`update products set price = 80 where id = ${MUG}`;
  const second = await api.call("POST", "/orders", orderBody("tenant-123", [{ productId: MUG, quantity: 3 }]));
  expect(second.body).toMatchObject({ totalAmount: 240, items: [{ unitPrice: 80 }] });
  // An order keeps the price it was placed at.
  expect((await api.call("GET", `/orders/${first.body.id}`)).body).toMatchObject({ totalAmount: 300.1, items: [{ unitPrice: 100 }, { unitPrice: 0.1 }] });
});

test("a unitPrice that is not the catalog price is a 409 price_changed naming each such line, and nothing is written", async () => {
  const tampered = await api.call("POST", "/orders", orderBody("tenant-123", [{ productId: MUG, quantity: 1000, unitPrice: 0.01 }, { productId: PEN, quantity: 1, unitPrice: 0.1 }, { productId: PEN, quantity: 1, unitPrice: 0.2 }]));
  expect(tampered.status).toBe(409);
  expect(tampered.body.error).toMatchObject({ code: "price_changed", details: [{ path: "items.0.unitPrice" }, { path: "items.2.unitPrice" }] });
  expect(tampered.body.error.details[0].message).toContain("100");
  expect(await countRows(ctx, "orders")).toBe(0);
  expect(await countRows(ctx, "outbox")).toBe(0);
  expect(await countRows(ctx, "idempotency_keys")).toBe(0);
});

test("another tenant's product is never priced from its catalog: the price sent stands and inventory rejects the order", async () => {
  const foreign = await insertProduct("tenant-other", "GOLD", 999);
  const res = await api.call("POST", "/orders", orderBody("tenant-123", [{ productId: foreign, quantity: 1, unitPrice: 1 }]));
  expect(res.status).toBe(201);
  expect(res.body.items[0].unitPrice).toBe(1);
});

test("a total above numeric(12,2) at catalog prices is a 400 naming items, and nothing is written", async () => {
  const dear = await insertProduct("tenant-123", "DEAR", 99_999_999.99);
  const res = await api.call("POST", "/orders", orderBody("tenant-123", Array.from({ length: 2 }, () => ({ productId: dear, quantity: 1000 }))));
  expect(res.status).toBe(400);
  expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain("items");
  expect(await countRows(ctx, "orders")).toBe(0);
});
