// What the handlers do to an order: reservation, rejection, cancellation, payment.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { startTestApi, type TestApi } from "./support/api.ts";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { countRows } from "./support/db.ts";
import { pendingOf } from "./support/effects.ts";
import { createOrder, createProduct, stockOf, waitForStatus } from "./support/shop.ts";

let ctx: TestContext;
let api: TestApi;
beforeEach(async () => {
  ctx = await createTestContext();
  api = await startTestApi(ctx);
});
afterEach(() => ctx.cleanup());

const T = "tenant-1";
const line = (productId: string, quantity: number, unitPrice = 10) => ({ productId, quantity, unitPrice });
const pay = (orderId: string, paymentId: string, amount: number, status = "succeeded") =>
  api.call("POST", `/orders/${orderId}/payments`, { paymentId, amount, status });
const eventsOf = async (type: string) => (await ctx.sql`select payload from outbox where event_type = ${type}`).map((r) => r.payload);

test("an order with stock for every line is confirmed and takes the stock; order.confirmed is emitted", async () => {
  const a = await createProduct(api, T, "A", 5);
  const b = await createProduct(api, T, "B", 3);
  // The same product on two lines counts twice.
  const order = await createOrder(api, T, [line(a.id, 2), line(b.id, 3), line(a.id, 1)]);
  await waitForStatus(api, order.id, "confirmed");
  expect(await stockOf(api, a.id)).toBe(2);
  expect(await stockOf(api, b.id)).toBe(0);
  expect(await eventsOf("order.confirmed")).toEqual([expect.objectContaining({ orderId: order.id, totalAmount: 60 })]);
});

test("all or none: one line short of stock rejects the order with insufficient_stock and takes nothing", async () => {
  const a = await createProduct(api, T, "A", 5);
  const b = await createProduct(api, T, "B", 1);
  const order = await createOrder(api, T, [line(a.id, 2), line(b.id, 2)]);
  const rejected = await waitForStatus(api, order.id, "rejected");
  expect(rejected.statusReason).toBe("insufficient_stock");
  expect(await stockOf(api, a.id)).toBe(5);
  expect(await stockOf(api, b.id)).toBe(1);
  expect(await eventsOf("order.rejected")).toEqual([expect.objectContaining({ orderId: order.id, reason: "insufficient_stock" })]);
});

test("a product that does not exist, or belongs to another tenant, rejects the order with unknown_product", async () => {
  const foreign = await createProduct(api, "tenant-2", "X", 100);
  const own = await createProduct(api, T, "A", 5);
  const order = await createOrder(api, T, [line(own.id, 1), line(foreign.id, 1)]);
  expect((await waitForStatus(api, order.id, "rejected")).statusReason).toBe("unknown_product");
  expect(await stockOf(api, own.id)).toBe(5);
  expect(await stockOf(api, foreign.id)).toBe(100);
});

test("cancelling a confirmed order gives its stock back; a second request or one for a cancelled order is 409", async () => {
  const a = await createProduct(api, T, "A", 5);
  const order = await createOrder(api, T, [line(a.id, 4)]);
  await waitForStatus(api, order.id, "confirmed");
  const res = await api.call("POST", `/orders/${order.id}/cancel`, { reason: "changed my mind" });
  expect(res.status).toBe(202);
  expect(res.body).toEqual({ id: order.id, cancellationRequested: true });
  expect((await api.call("POST", `/orders/${order.id}/cancel`, { reason: "again" })).status).toBe(409);
  const cancelled = await waitForStatus(api, order.id, "cancelled");
  expect(cancelled.statusReason).toBe("changed my mind");
  expect(await stockOf(api, a.id)).toBe(5);
  expect((await api.call("POST", `/orders/${order.id}/cancel`, { reason: "again" })).body.error.code).toBe("conflict");
  expect(await eventsOf("order.cancelled")).toHaveLength(1);
});

test("cancelling a rejected order is 409; an unknown order is 404; a missing reason is 400", async () => {
  const order = await createOrder(api, T, [line(crypto.randomUUID(), 1)]);
  await waitForStatus(api, order.id, "rejected");
  expect((await api.call("POST", `/orders/${order.id}/cancel`, { reason: "x" })).status).toBe(409);
  expect((await api.call("POST", `/orders/${crypto.randomUUID()}/cancel`, { reason: "x" })).status).toBe(404);
  const missing = await api.call("POST", `/orders/${order.id}/cancel`, {});
  expect(missing.status).toBe(400);
  expect(missing.body.error.details[0].path).toBe("reason");
});

/** Writes the requests' events with no engine running, holding order.created back, then starts the engine. */
async function withReservationHeldBack(orderLines: ReturnType<typeof line>[], requests: (orderId: string) => Promise<void>) {
  await api.engine!.stop();
  api = await startTestApi(ctx, { engine: false });
  const order = await createOrder(api, T, orderLines);
  await requests(order.id);
  await ctx.sql`update outbox set published_at = now() where event_type = 'order.created'`;
  api = await startTestApi(ctx);
  return order;
}
const releaseReservation = () => ctx.sql`update outbox set published_at = null where event_type = 'order.created'`;

test("a pending order cancelled before its reservation runs is cancelled and its reservation takes no stock", async () => {
  const a = await createProduct(api, T, "A", 5);
  const order = await withReservationHeldBack([line(a.id, 3)], async (id) => {
    expect((await api.call("POST", `/orders/${id}/cancel`, { reason: "too slow" })).status).toBe(202);
  });
  const cancelled = await waitForStatus(api, order.id, "cancelled");
  expect(cancelled.statusReason).toBe("too slow");
  await releaseReservation();
  await waitFor("the late reservation", async () => (await ctx.sql`select 1 from processed_events p join outbox o on o.id = p.event_id where p.handler = 'inventory' and o.event_type = 'order.created'`).length === 1);
  expect((await api.call("GET", `/orders/${order.id}`)).body.status).toBe("cancelled");
  expect(await stockOf(api, a.id)).toBe(5);
  expect(await eventsOf("order.cancellation_completed")).toEqual([expect.objectContaining({ previousStatus: "pending", refundAmount: 0 })]);
});

test("a payment of the exact total moves a confirmed order to paid, once per paymentId", async () => {
  const a = await createProduct(api, T, "A", 5, 12.25);
  const order = await createOrder(api, T, [line(a.id, 2, 12.25)]);
  await waitForStatus(api, order.id, "confirmed");
  const res = await pay(order.id, "pay-1", 24.5);
  expect(res.status).toBe(202);
  expect(res.body).toMatchObject({ orderId: order.id, paymentId: "pay-1", accepted: true, duplicate: false });
  const again = await pay(order.id, "pay-1", 24.5);
  expect(again.status).toBe(200);
  expect(again.body.duplicate).toBe(true);
  const paid = await waitForStatus(api, order.id, "paid");
  expect(paid.payments).toEqual([expect.objectContaining({ paymentId: "pay-1", amount: 24.5, status: "succeeded", applied: true })]);
  expect(await eventsOf("payment.processed")).toHaveLength(1);
  expect(await eventsOf("order.paid")).toEqual([expect.objectContaining({ orderId: order.id, amount: 24.5 })]);
});

const paymentsHandled = async () => Number((await ctx.sql`select count(*)::int as n from processed_events p join outbox o on o.id = p.event_id where p.handler = 'payments'`)[0]!.n);

test("payments sent while the order is pending wait, handled once, for its decision: the first pays the confirmed order, the second is refunded", async () => {
  const a = await createProduct(api, T, "A", 5);
  const order = await withReservationHeldBack([line(a.id, 1)], async (id) => {
    expect((await pay(id, "early", 10)).status).toBe(202);
    expect((await pay(id, "second", 10)).status).toBe(202);
  });
  // Both acknowledged on their first run, not retried while the decision is held back.
  await waitFor("both payments handled", async () => (await paymentsHandled()) === 2 && (await pendingOf(ctx, "payment.processed", "payments")) === 0);
  const waiting = (await api.call("GET", `/orders/${order.id}`)).body;
  expect(waiting).toMatchObject({ status: "pending", refunds: [] });
  expect(waiting.payments).toEqual([
    expect.objectContaining({ paymentId: "early", applied: false, awaitingDecision: true }),
    expect.objectContaining({ paymentId: "second", applied: false, awaitingDecision: true }),
  ]);

  await releaseReservation();
  const paid = await waitForStatus(api, order.id, "paid");
  expect(paid.payments).toEqual([
    expect.objectContaining({ paymentId: "early", applied: true, awaitingDecision: false }),
    expect.objectContaining({ paymentId: "second", applied: false, awaitingDecision: false }),
  ]);
  expect(paid.refunds).toEqual([expect.objectContaining({ paymentId: "second", amount: 10, reason: "order_already_paid" })]);
  expect(await eventsOf("order.paid")).toEqual([expect.objectContaining({ orderId: order.id, paymentId: "early" })]);
  expect(await paymentsHandled()).toBe(2);
  expect(await countRows(ctx, "dead_letters")).toBe(0);
});

test("a payment waiting for a pending order is refunded when the order is cancelled or rejected instead", async () => {
  const a = await createProduct(api, T, "A", 5);
  const cancelled = await withReservationHeldBack([line(a.id, 1)], async (id) => {
    expect((await pay(id, "c-pay", 10)).status).toBe(202);
  });
  await waitFor("the payment handled", async () => (await paymentsHandled()) === 1);
  expect((await api.call("GET", `/orders/${cancelled.id}`)).body.payments).toEqual([expect.objectContaining({ paymentId: "c-pay", awaitingDecision: true })]);
  expect((await api.call("POST", `/orders/${cancelled.id}/cancel`, { reason: "too slow" })).status).toBe(202);
  await waitForStatus(api, cancelled.id, "cancelled");
  expect((await api.call("GET", `/orders/${cancelled.id}`)).body).toMatchObject({
    payments: [{ paymentId: "c-pay", applied: false, awaitingDecision: false }], refunds: [{ paymentId: "c-pay", amount: 10, reason: "order_cancelled" }],
  });

  const rejected = await withReservationHeldBack([line(a.id, 9)], async (id) => {
    expect((await pay(id, "r-pay", 90)).status).toBe(202);
  });
  await waitFor("the payment handled", async () => (await paymentsHandled()) === 2);
  await releaseReservation();
  await waitForStatus(api, rejected.id, "rejected");
  expect((await api.call("GET", `/orders/${rejected.id}`)).body).toMatchObject({
    payments: [{ paymentId: "r-pay", applied: false, awaitingDecision: false }], refunds: [{ paymentId: "r-pay", amount: 90, reason: "order_rejected" }],
  });
  expect(await stockOf(api, a.id)).toBe(5);
});

test("a payment that cannot pay its order is recorded and refunded: wrong amount, failed status, cancelled order", async () => {
  const a = await createProduct(api, T, "A", 10);
  const order = await createOrder(api, T, [line(a.id, 1)]);
  await waitForStatus(api, order.id, "confirmed");
  await pay(order.id, "short", 9.99);
  await pay(order.id, "declined", 10, "failed");
  await waitFor("both payments", async () => (await api.call("GET", `/orders/${order.id}`)).body.payments.length === 2);
  const view = (await api.call("GET", `/orders/${order.id}`)).body;
  expect(view.status).toBe("confirmed");
  expect(view.refunds).toEqual([expect.objectContaining({ paymentId: "short", amount: 9.99, reason: "amount_mismatch" })]);

  await api.call("POST", `/orders/${order.id}/cancel`, { reason: "no" });
  await waitForStatus(api, order.id, "cancelled");
  await pay(order.id, "late", 10);
  await waitFor("the late payment's refund", async () => (await api.call("GET", `/orders/${order.id}`)).body.refunds.length === 2);
  expect((await api.call("GET", `/orders/${order.id}`)).body.refunds[1]).toMatchObject({ paymentId: "late", reason: "order_cancelled" });
});

test("cancelling a paid order gives the stock back and refunds the payment", async () => {
  const a = await createProduct(api, T, "A", 3, 7);
  const order = await createOrder(api, T, [line(a.id, 3, 7)]);
  await waitForStatus(api, order.id, "confirmed");
  await pay(order.id, "p1", 21);
  await waitForStatus(api, order.id, "paid");
  await api.call("POST", `/orders/${order.id}/cancel`, { reason: "returned" });
  const cancelled = await waitForStatus(api, order.id, "cancelled");
  expect(cancelled.refunds).toEqual([expect.objectContaining({ paymentId: "p1", amount: 21, reason: "order_cancelled" })]);
  expect(await stockOf(api, a.id)).toBe(3);
  expect(await eventsOf("order.cancellation_completed")).toEqual([expect.objectContaining({ previousStatus: "paid", refundAmount: 21 })]);
});

test("a paymentId reused for another amount is 409; a payment for an unknown order is 404; nothing is written", async () => {
  const a = await createProduct(api, T, "A", 3);
  const order = await createOrder(api, T, [line(a.id, 1)]);
  expect((await pay(order.id, "p1", 10)).status).toBe(202);
  const reused = await pay(order.id, "p1", 11);
  expect(reused.status).toBe(409);
  expect(reused.body.error.code).toBe("conflict");
  expect((await pay(crypto.randomUUID(), "p2", 10)).status).toBe(404);
  for (const [amount, status, field] of [[0, "succeeded", "amount"], [1.234, "succeeded", "amount"], [10, "refunded", "status"]] as const) {
    const res = await pay(order.id, "p3", amount, status);
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].path).toBe(field);
  }
  expect(await eventsOf("payment.processed")).toHaveLength(1);
});

test("each order event sends one notification e-mail", async () => {
  const a = await createProduct(api, T, "A", 1);
  const ok = await createOrder(api, T, [line(a.id, 1)]);
  const short = await createOrder(api, T, [line(a.id, 5)]);
  await waitForStatus(api, ok.id, "confirmed");
  await waitForStatus(api, short.id, "rejected");
  await pay(ok.id, "p1", 10);
  await waitFor("three e-mails", async () => (await countRows(ctx, "notifications")) === 3);
  const rows = await ctx.sql`select event_type, recipient, subject, status from notifications order by created_at`;
  expect(rows.map((r) => r.event_type).sort()).toEqual(["order.confirmed", "order.rejected", "payment.processed"]);
  expect(rows.every((r) => r.recipient === "customer@example.com" && r.status === "sent")).toBe(true);
});
