import { afterEach, beforeEach, expect, test } from "bun:test";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { startTestApi, type TestApi } from "./support/api.ts";
import { countRows } from "./support/db.ts";
import { statsOf } from "./support/shop.ts";

let ctx: TestContext;
let api: TestApi;
beforeEach(async () => {
  ctx = await createTestContext();
  api = await startTestApi(ctx);
});
afterEach(() => ctx.cleanup());

const product = { tenantId: "tenant-1", sku: "SKU-1", name: "Mug", price: 12.5, stock: 7 };

test("POST /products creates a product with its fields and emits product.created", async () => {
  const res = await api.call("POST", "/products", product);
  expect(res.status).toBe(201);
  expect(res.body).toMatchObject({ ...product, id: expect.any(String) });
  expect(Number.isNaN(Date.parse(res.body.createdAt))).toBe(false);
  const events = await ctx.sql`select event_type, aggregate_id, tenant_id, payload from outbox`;
  expect(events).toHaveLength(1);
  expect(events[0]).toMatchObject({ event_type: "product.created", aggregate_id: res.body.id, tenant_id: "tenant-1" });
  expect(events[0]!.payload).toMatchObject({ productId: res.body.id, sku: "SKU-1", price: 12.5, stock: 7 });
  await waitFor("analytics", async () => (await statsOf(api, "tenant-1")).productsCreated === 1);
});

test("GET /products/:id returns the current stock; an unknown id is 404", async () => {
  const created = (await api.call("POST", "/products", product)).body;
  const res = await api.call("GET", `/products/${created.id}`);
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ id: created.id, stock: 7, price: 12.5 });
  const missing = await api.call("GET", "/products/00000000-0000-4000-8000-000000000000");
  expect(missing.status).toBe(404);
  expect(missing.body.error).toMatchObject({ code: "not_found", requestId: expect.any(String) });
});

test("a (tenantId, sku) already taken is 409 and writes nothing; another tenant may use the sku", async () => {
  expect((await api.call("POST", "/products", product)).status).toBe(201);
  const again = await api.call("POST", "/products", { ...product, name: "Other" });
  expect(again.status).toBe(409);
  expect(again.body.error.code).toBe("conflict");
  expect((await api.call("POST", "/products", { ...product, tenantId: "tenant-2" })).status).toBe(201);
  expect(await countRows(ctx, "outbox")).toBe(2);
});

test.each([
  ["negative stock", { stock: -1 }, "stock"],
  ["fractional stock", { stock: 1.5 }, "stock"],
  ["price with three decimals", { price: 1.005 }, "price"],
  ["negative price", { price: -3 }, "price"],
  ["price as a string", { price: "12.50" }, "price"],
  ["empty name", { name: "  " }, "name"],
  ["missing sku", { sku: undefined }, "sku"],
  ["unknown field", { colour: "red" }, "colour"],
  ["control character in name", { name: "Mu\u0000g" }, "name"],
] as const)("%s is a 400 naming the field, and nothing is written", async (_label, change, field) => {
  const res = await api.call("POST", "/products", { ...product, ...change });
  expect(res.status).toBe(400);
  expect(res.body.error.code).toBe("validation_failed");
  expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(field);
  expect(await countRows(ctx, "products")).toBe(0);
});
