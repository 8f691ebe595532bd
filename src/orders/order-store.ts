import { and, asc, eq, sql } from "drizzle-orm";
import type { Db, Tx } from "../db/client.ts";
import { orderItems, orders, payments, refunds, type OrderStatus } from "../db/schema.ts";

export type Order = typeof orders.$inferSelect;

/** The order, locked for the rest of the transaction: its handlers change it one at a time. */
export async function lockOrder(tx: Tx, id: string): Promise<Order | undefined> {
  const [order] = await tx.select().from(orders).where(eq(orders.id, id)).for("update");
  return order;
}

export async function setOrderStatus(tx: Tx, id: string, status: OrderStatus, statusReason: string | null): Promise<void> {
  await tx.update(orders).set({ status, statusReason, updatedAt: sql`now()` }).where(eq(orders.id, id));
}

/** Quantity per product over the order's lines (a product may appear on several lines). */
export async function itemQuantities(tx: Tx, orderId: string): Promise<Map<string, number>> {
  const lines = await tx.select({ productId: orderItems.productId, quantity: orderItems.quantity }).from(orderItems).where(eq(orderItems.orderId, orderId));
  const out = new Map<string, number>();
  for (const l of lines) out.set(l.productId, (out.get(l.productId) ?? 0) + l.quantity);
  return out;
}

/**
 * The order as GET /orders/:id shows it, with its lines, payments and refunds; undefined if
 * unknown or of another tenant than `tenantId` (null: any tenant).
 */
export async function loadOrderView(db: Db, id: string, tenantId: string | null = null) {
  const [order] = await db.select().from(orders).where(and(eq(orders.id, id), tenantId === null ? undefined : eq(orders.tenantId, tenantId)));
  if (!order) return undefined;
  const [items, paid, refunded] = await Promise.all([
    db.select().from(orderItems).where(eq(orderItems.orderId, id)).orderBy(asc(orderItems.line)),
    db.select().from(payments).where(eq(payments.orderId, id)).orderBy(asc(payments.createdAt)),
    db.select().from(refunds).where(eq(refunds.orderId, id)).orderBy(asc(refunds.createdAt)),
  ]);
  return {
    ...orderView(order, items),
    payments: paid.map((p) => ({ paymentId: p.paymentId, amount: p.amount, status: p.status, applied: p.applied, awaitingDecision: p.awaitingDecision, createdAt: p.createdAt.toISOString() })),
    refunds: refunded.map((r) => ({ paymentId: r.paymentId, amount: r.amount, reason: r.reason, createdAt: r.createdAt.toISOString() })),
  };
}

export function orderView(order: Order, items: (typeof orderItems.$inferSelect)[]) {
  return {
    id: order.id,
    orderNumber: order.orderNumber,
    tenantId: order.tenantId,
    customerId: order.customerId,
    customerEmail: order.customerEmail,
    status: order.status,
    ...(order.statusReason ? { statusReason: order.statusReason } : {}),
    totalAmount: order.totalAmount,
    items: items.map((i) => ({ productId: i.productId, quantity: i.quantity, unitPrice: i.unitPrice })),
    shippingAddress: order.shippingAddress,
    ...(order.billingAddress ? { billingAddress: order.billingAddress } : {}),
    cancellationRequested: order.cancelRequestedAt !== null,
    createdAt: order.createdAt.toISOString(),
    updatedAt: order.updatedAt.toISOString(),
  };
}
