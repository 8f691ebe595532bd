// The whole shop through the API: products, orders (some over the stock), payments before and
// after confirmation, cancellations, events from other services and signed webhooks; then every
// order's final status, the stock and the tenant counters must be exactly what they should be.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { startTestApi, type TestApi } from "./support/api.ts";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { readDeadLetters } from "./support/effects.ts";
import { createOrder, createProduct, stockOf, statsOf, waitForStatus } from "./support/shop.ts";
import { signWebhook, webhookSecret } from "./support/webhooks.ts";

let ctx: TestContext;
let api: TestApi;
const secret = webhookSecret("acme");
beforeEach(async () => {
  ctx = await createTestContext();
  api = await startTestApi(ctx, { env: { WEBHOOK_SECRETS: secret.env, WEBHOOK_SCOPES: "acme=*" } });
});
afterEach(() => ctx.cleanup());

const T = "scenario-shop";

const webhook = async (type: string, data: unknown) => {
  const body = JSON.stringify({ type, data });
  const res = await api.call("POST", "/webhooks/acme", body, signWebhook(secret.key, body));
  expect(res.status).toBe(202);
};

test("every order ends in its expected status; stock and tenant counters are exact", async () => {
  const A = await createProduct(api, T, "A", 100, 5);
  const B = await createProduct(api, T, "B", 50, 12.5);
  const zero = await createProduct(api, T, "ZERO", 0, 1);
  const few = await createProduct(api, T, "FEW", 3, 1);
  const restocked = await createProduct(api, T, "RESTOCK", 1, 2);
  const basket = [{ productId: A.id, quantity: 2, unitPrice: 5 }, { productId: B.id, quantity: 1, unitPrice: 12.5 }];
  const total = 22.5;
  const pay = (orderId: string, paymentId: string, amount = total) => api.call("POST", `/orders/${orderId}/payments`, { paymentId, amount, status: "succeeded" });
  const cancel = (orderId: string) => api.call("POST", `/orders/${orderId}/cancel`, { reason: "scenario" });

  const orders = await Promise.all(Array.from({ length: 10 }, () => createOrder(api, T, basket)));
  const [o1, o2, o3, o4, o5, o6, o7, o8, o9, o10] = orders.map((o) => o.id) as [string, string, string, string, string, string, string, string, string, string];
  // Payments sent right away, most likely before inventory has decided the order.
  for (const [i, id] of [o5, o6].entries()) expect((await pay(id, `early-${i}`)).status).toBe(202);
  const zeroOrders = await Promise.all([1, 2].map(() => createOrder(api, T, [{ productId: zero.id, quantity: 1, unitPrice: 1 }])));
  const overStock = await createOrder(api, T, [{ productId: few.id, quantity: 4, unitPrice: 1 }]);
  const unknown = await createOrder(api, T, [{ productId: crypto.randomUUID(), quantity: 1, unitPrice: 1 }]);
  const cancelledEarly = await createOrder(api, T, [{ productId: A.id, quantity: 1, unitPrice: 5 }]);
  expect((await cancel(cancelledEarly.id)).status).toBe(202);

  for (const id of [o1, o2, o3, o4, o7, o8, o9, o10]) await waitForStatus(api, id, "confirmed", "paid");
  for (const [i, id] of [o1, o2, o3, o4].entries()) expect((await pay(id, `after-${i}`)).status).toBe(202);
  expect((await cancel(o7)).status).toBe(202);
  await pay(o8, "paid-then-cancelled");
  await waitForStatus(api, o8, "paid");
  expect((await cancel(o8)).status).toBe(202);
  await pay(o9, "short", 20);
  await webhook("payment.succeeded", { orderId: o10, paymentId: "via-webhook", amount: total });
  await webhook("inventory.stock_updated", { productId: restocked.id, stock: 40 });
  await webhook("inventory.price_updated", { productId: restocked.id, price: 2.75 });
  await webhook("shipment.created", { trackingNo: "X1" });
  for (const userId of ["u1", "u2"]) {
    expect((await api.call("POST", "/events", { eventType: "user.created", tenantId: T, payload: { userId, email: `${userId}@example.com`, role: "buyer" } })).status).toBe(202);
  }

  const expected: [string, string, string?][] = [
    ...[o1, o2, o3, o4, o5, o6, o10].map((id) => [id, "paid"] as [string, string]),
    [o7, "cancelled"], [o8, "cancelled"], [o9, "confirmed"],
    ...zeroOrders.map((o) => [o.id, "rejected", "insufficient_stock"] as [string, string, string]),
    [overStock.id, "rejected", "insufficient_stock"], [unknown.id, "rejected", "unknown_product"], [cancelledEarly.id, "cancelled"],
  ];
  for (const [id, status, reason] of expected) {
    const order = await waitForStatus(api, id, status);
    if (reason) expect(order.statusReason).toBe(reason);
  }
  await waitFor("the pipeline to drain", async () => {
    const [{ n }] = await ctx.sql`select count(*)::int as n from outbox where published_at is null` as unknown as [{ n: number }];
    const webhooks = await ctx.sql`select status from webhook_payloads where status <> 'completed'`;
    const stats = await statsOf(api, T);
    return n === 0 && webhooks.length === 0 && stats.usersCreated === 2 && stats.ordersCancelled === 3 && stats.ordersPaid === 8;
  }, 20_000);

  // Held by confirmed and uncancelled orders: o1-o6, o9, o10 hold 2 A and 1 B each.
  expect(await stockOf(api, A.id)).toBe(100 - 8 * 2);
  expect(await stockOf(api, B.id)).toBe(50 - 8);
  expect(await stockOf(api, zero.id)).toBe(0);
  expect(await stockOf(api, few.id)).toBe(3);
  expect((await api.call("GET", `/products/${restocked.id}`)).body).toMatchObject({ stock: 40, price: 2.75 });

  // cancelledEarly may or may not have been confirmed before its cancellation took effect.
  const [{ early }] = await ctx.sql`select count(*)::int as early from outbox where event_type = 'order.confirmed' and aggregate_id = ${cancelledEarly.id}` as unknown as [{ early: number }];
  expect(await statsOf(api, T)).toEqual({
    tenantId: T,
    ordersCreated: 15,
    ordersConfirmed: 10 + early,
    ordersRejected: 4,
    ordersCancelled: 3,
    ordersPaid: 8,
    revenue: 8 * total - total, // o8 was paid, then cancelled and refunded
    productsCreated: 5,
    usersCreated: 2,
  });
  const refunds = await ctx.sql`select payment_id, reason from refunds order by payment_id`;
  expect(refunds.map((r) => [r.payment_id, r.reason])).toEqual([["paid-then-cancelled", "order_cancelled"], ["short", "amount_mismatch"]]);
  expect(await readDeadLetters(ctx)).toEqual([]);
}, 60_000);
