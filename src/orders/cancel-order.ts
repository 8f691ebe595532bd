import { and, eq, isNull, notInArray, sql } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { orders } from "../db/schema.ts";
import { ConflictError, NotFoundError } from "../lib/domain-errors.ts";
import { commitWithEvents, writeEvent, type Waker } from "../engine/index.ts";

/**
 * Records a cancellation request and its `order.cancelled` event; the inventory handler applies
 * it. Taken once per order: a second request, or one for a cancelled or rejected order, is a
 * ConflictError. An order of another tenant than `tenantId` (null: any) is not found.
 */
export async function requestCancellation(db: Db, relay: Waker | undefined, orderId: string, reason: string, tenantId: string | null = null): Promise<void> {
  const ofTenant = tenantId === null ? undefined : eq(orders.tenantId, tenantId);
  await commitWithEvents(db, relay, async (tx) => {
    const [order] = await tx.update(orders)
      .set({ cancelRequestedAt: sql`now()`, cancellationReason: reason, updatedAt: sql`now()` })
      .where(and(eq(orders.id, orderId), ofTenant, isNull(orders.cancelRequestedAt), notInArray(orders.status, ["cancelled", "rejected"])))
      .returning({ id: orders.id, tenantId: orders.tenantId, at: orders.cancelRequestedAt });
    if (!order) {
      const [existing] = await tx.select({ status: orders.status, requested: orders.cancelRequestedAt }).from(orders).where(and(eq(orders.id, orderId), ofTenant));
      if (!existing) throw new NotFoundError("order");
      throw new ConflictError(existing.requested ? "a cancellation of this order was already requested" : `the order is already ${existing.status}`);
    }
    await writeEvent(tx, {
      eventType: "order.cancelled",
      aggregateId: order.id,
      tenantId: order.tenantId,
      idempotencyKey: `orderstream:order.cancelled:${order.id}`,
      payload: { orderId: order.id, tenantId: order.tenantId, reason, cancelledAt: order.at!.toISOString() },
    });
  });
}
