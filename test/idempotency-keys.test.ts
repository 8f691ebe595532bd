// Idempotency-Key on POST /orders: kept 24 h, then forgotten (a retry after that is a new order),
// and scoped per tenant, so two shops' clients choosing the same key never see each other's order.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { IDEMPOTENCY_KEY_TTL_MS } from "../src/orders/create-order.ts";
import { startIdempotencyKeyCleanup } from "../src/orders/idempotency-cleanup.ts";
import { startTestApi, type TestApi } from "./support/api.ts";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { countRows } from "./support/db.ts";
import { orderBody } from "./support/shop.ts";

let ctx: TestContext;
let api: TestApi;
beforeEach(async () => {
  ctx = await createTestContext();
  api = await startTestApi(ctx, { engine: false });
});
afterEach(() => ctx.cleanup());

const PRODUCT = "6f1c1c3e-8a5e-4f7b-9d1e-2b8c0f1a9e11";
const order = (tenantId: string) => orderBody(tenantId, [{ productId: PRODUCT, quantity: 1, unitPrice: 5 }]);
const age = (hours: number) => ctx.sql`update idempotency_keys set created_at = now() - make_interval(hours => ${hours})`;

test("two tenants using the same Idempotency-Key get an order each", async () => {
  const headers = { "Idempotency-Key": "checkout-1" };
  const a = await api.call("POST", "/orders", order("shop-a"), headers);
  const b = await api.call("POST", "/orders", order("shop-b"), headers);
  expect([a.status, b.status]).toEqual([201, 201]);
  expect(b.body.id).not.toBe(a.body.id);
  expect(b.body.tenantId).toBe("shop-b");
  // Each tenant still gets its own first answer back.
  expect((await api.call("POST", "/orders", order("shop-a"), headers)).body.id).toBe(a.body.id);
  expect((await api.call("POST", "/orders", order("shop-b"), headers)).body.id).toBe(b.body.id);
  expect(await countRows(ctx, "orders")).toBe(2);
});

test("a key is kept 24 h: a day later the same key and body create a new order", async () => {
  expect(IDEMPOTENCY_KEY_TTL_MS).toBe(24 * 3_600_000);
  const headers = { "Idempotency-Key": "checkout-2" };
  const first = await api.call("POST", "/orders", order("shop-a"), headers);
  await age(23);
  expect((await api.call("POST", "/orders", order("shop-a"), headers)).body.id).toBe(first.body.id);
  await age(25);
  const later = await api.call("POST", "/orders", order("shop-a"), headers);
  expect(later.status).toBe(201);
  expect(later.body.id).not.toBe(first.body.id);
  // And the new order's key holds from now on, with another body refused again.
  expect((await api.call("POST", "/orders", order("shop-a"), headers)).body.id).toBe(later.body.id);
  expect((await api.call("POST", "/orders", { ...order("shop-a"), customerId: "other" }, headers)).status).toBe(409);
  expect(await countRows(ctx, "orders")).toBe(2);
  expect(await countRows(ctx, "idempotency_keys")).toBe(1);
});

test("the cleanup job deletes keys older than 24 h and keeps younger ones", async () => {
  await api.call("POST", "/orders", order("shop-a"), { "Idempotency-Key": "old" });
  await age(25);
  await api.call("POST", "/orders", order("shop-a"), { "Idempotency-Key": "young" });
  const job = startIdempotencyKeyCleanup({ db: ctx.db, log: ctx.log, cron: "* * * * * *" });
  try {
    await waitFor("the old key to be deleted", async () => (await countRows(ctx, "idempotency_keys")) === 1, 5_000);
    const [left] = await ctx.sql<{ key: string }[]>`select key from idempotency_keys`;
    expect(left!.key).toBe("young");
  } finally {
    job.stop();
  }
});
