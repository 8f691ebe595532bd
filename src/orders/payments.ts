import { and, asc, eq } from "drizzle-orm";
import type { Tx } from "../db/client.ts";
import { orders, payments } from "../db/schema.ts";
import { toCents } from "../lib/validation.ts";
import { setOrderStatus, type Order } from "./order-store.ts";
import { refundPayment } from "./refunds.ts";
import type { EventInput } from "../engine/index.ts";

/** Whether this paymentId was recorded before: a payment is recorded, and takes effect, once. */
export async function paymentRecorded(tx: Tx, paymentId: string): Promise<boolean> {
  const [row] = await tx.select({ id: payments.paymentId }).from(payments).where(eq(payments.paymentId, paymentId));
  return row !== undefined;
}

export interface IncomingPayment {
  paymentId: string;
  amount: number;
  status: "succeeded" | "failed";
}

/** Writes a follow-up event in the caller's transaction (the handler context's writeEvent). */
type Emit = (input: EventInput) => Promise<unknown>;

/**
 * Records a payment of the locked `order` once (the caller checked its paymentId is new). A
 * succeeded payment of a pending order waits, recorded, for the order's decision: inventory
 * settles it in the transaction that decides the order, so it is never retried nor given up on
 * however long the decision takes. Any other payment takes its effect now (see `takeEffect`).
 */
export async function receivePayment(tx: Tx, order: Order, p: IncomingPayment, emit: Emit): Promise<void> {
  const waits = order.status === "pending" && p.status === "succeeded";
  const applied = waits ? false : await takeEffect(tx, order, p, emit);
  await tx.insert(payments).values({ paymentId: p.paymentId, orderId: order.id, amount: p.amount, status: p.status, applied, awaitingDecision: waits });
  if (waits && !order.paymentsAwaiting) await tx.update(orders).set({ paymentsAwaiting: true }).where(eq(orders.id, order.id));
}

/**
 * Settles, in the order they arrived, the payments that waited for `order`'s decision: `order`
 * is the locked row as just decided (confirmed, rejected or cancelled). The first succeeded
 * payment of exactly the total pays a confirmed order; the others are refunded.
 */
export async function settleAwaitingPayments(tx: Tx, order: Order, emit: Emit): Promise<void> {
  if (!order.paymentsAwaiting) return;
  const waiting = await tx.select().from(payments)
    .where(and(eq(payments.orderId, order.id), eq(payments.awaitingDecision, true)))
    .orderBy(asc(payments.createdAt), asc(payments.paymentId));
  let current = order;
  for (const p of waiting) {
    const applied = await takeEffect(tx, current, p, emit);
    await tx.update(payments).set({ applied, awaitingDecision: false }).where(eq(payments.paymentId, p.paymentId));
    if (applied) current = { ...current, status: "paid" };
  }
  await tx.update(orders).set({ paymentsAwaiting: false }).where(eq(orders.id, order.id));
}

/**
 * A payment's effect on its decided order; true when it paid the order. A succeeded payment of
 * exactly the total moves a confirmed order to paid (`order.paid`); one that cannot pay its order
 * (cancelled, rejected, already paid, another amount) is refunded. A failed one changes nothing.
 */
async function takeEffect(tx: Tx, order: Order, p: IncomingPayment, emit: Emit): Promise<boolean> {
  if (p.status !== "succeeded") return false;
  if (order.status === "confirmed" && toCents(p.amount) === toCents(order.totalAmount)) {
    await setOrderStatus(tx, order.id, "paid", null);
    await emit({ eventType: "order.paid", aggregateId: order.id, tenantId: order.tenantId, payload: { orderId: order.id, tenantId: order.tenantId, paymentId: p.paymentId, amount: p.amount } });
    return true;
  }
  const reason = order.status === "confirmed" ? "amount_mismatch" : order.status === "paid" ? "order_already_paid" : `order_${order.status}`;
  await refundPayment(tx, order.id, p.paymentId, p.amount, reason);
  return false;
}
