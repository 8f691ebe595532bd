import { and, eq } from "drizzle-orm";
import type { Db, Tx } from "../db/client.ts";
import { orders, payments } from "../db/schema.ts";
import { ConflictError, NotFoundError } from "../lib/domain-errors.ts";
import { toCents } from "../lib/validation.ts";
import { commitWithEvents, writeEvent, type Waker, type WrittenEvent } from "../engine/index.ts";

export interface PaymentResult {
  paymentId: string;
  amount: number;
  status: "succeeded" | "failed";
}

/** The outbox key of a payment: the HTTP API and payment webhooks share it, so one payment is one event. */
export const paymentEventKey = (paymentId: string) => `orderstream:payment.processed:${paymentId}`;

/**
 * Emits `payment.processed` for the order (the payments handler records it). The same paymentId
 * again is a duplicate and emits nothing; reused for another order or amount, it is a
 * ConflictError. An order of another tenant than `tenantId` (null: any) is not found.
 */
export async function submitPayment(db: Db, relay: Waker | undefined, orderId: string, p: PaymentResult, tenantId: string | null = null): Promise<{ eventId: string; duplicate: boolean }> {
  return commitWithEvents(db, relay, async (tx) => {
    const [order] = await tx.select({ id: orders.id, tenantId: orders.tenantId }).from(orders)
      .where(and(eq(orders.id, orderId), tenantId === null ? undefined : eq(orders.tenantId, tenantId)));
    if (!order) throw new NotFoundError("order");
    const written = await writeEvent(tx, {
      eventType: "payment.processed",
      aggregateId: order.id,
      tenantId: order.tenantId,
      idempotencyKey: paymentEventKey(p.paymentId),
      payload: { paymentId: p.paymentId, orderId, amount: p.amount, status: p.status, processedAt: new Date().toISOString() },
    });
    if (written.duplicate && (await differsFromFirst(tx, written, { ...p, orderId }))) {
      throw new ConflictError(`paymentId ${p.paymentId} was already submitted with another order, amount or status`);
    }
    return { eventId: written.id, duplicate: written.duplicate };
  });
}

/**
 * Whether a payment submitted again under its paymentId differs from the first submission (order,
 * amount or status). The first event may be gone (outbox retention); then the recorded payment tells.
 */
export async function differsFromFirst(tx: Tx, written: WrittenEvent, p: PaymentResult & { orderId: string }): Promise<boolean> {
  const [recorded] = written.firstPayload ? [] : await tx.select().from(payments).where(eq(payments.paymentId, p.paymentId));
  const first = (written.firstPayload ?? recorded) as Partial<PaymentResult & { orderId: string }> | undefined;
  return first !== undefined && (first.orderId !== p.orderId || toCents(Number(first.amount)) !== toCents(p.amount) || first.status !== p.status);
}
