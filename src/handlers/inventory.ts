import { itemQuantities, lockOrder, setOrderStatus } from "../orders/order-store.ts";
import { settleAwaitingPayments } from "../orders/payments.ts";
import { refundPaidPayments } from "../orders/refunds.ts";
import { releaseStock, reserveStock } from "../products/products.ts";
import { on } from "./on.ts";
import { UnrecoverableError, type Subscription } from "../engine/index.ts";

/**
 * order.created: reserve stock for every line or none, then confirm or reject the order.
 * order.cancelled: cancel the order, giving back what it reserved (and refunding a paid one).
 * Both lock the order first, so they see each other's result: a cancellation that lands before
 * the reservation leaves nothing to reserve. Deciding a pending order settles the payments that
 * waited for it, in the same transaction.
 *
 * One event per transaction (batchSize 1): a run locks several product rows that every order of
 * the tenant shares, and a batch would hold them until its last event and take them in event
 * order, not id order: batches would queue behind each other and deadlock.
 */
export function inventoryHandlers(): Subscription[] {
  const unbatched = { batchSize: 1 };
  return [
    on("order.created", "inventory", async (event, { tx, writeEvent }) => {
      const order = await lockOrder(tx, event.payload.orderId);
      if (!order) throw new UnrecoverableError(`order ${event.payload.orderId} does not exist`);
      if (order.status !== "pending") return; // cancelled before its reservation ran
      const result = await reserveStock(tx, order.tenantId, await itemQuantities(tx, order.id));
      const base = { orderId: order.id, orderNumber: order.orderNumber, tenantId: order.tenantId, customerEmail: order.customerEmail };
      if (result.ok) {
        await setOrderStatus(tx, order.id, "confirmed", null);
        await writeEvent({ eventType: "order.confirmed", aggregateId: order.id, tenantId: order.tenantId, payload: { ...base, totalAmount: order.totalAmount } });
      } else {
        await setOrderStatus(tx, order.id, "rejected", result.reason);
        await writeEvent({ eventType: "order.rejected", aggregateId: order.id, tenantId: order.tenantId, payload: { ...base, reason: result.reason } });
      }
      await settleAwaitingPayments(tx, { ...order, status: result.ok ? "confirmed" : "rejected" }, writeEvent);
    }, unbatched),

    on("order.cancelled", "inventory", async (event, { tx, writeEvent }) => {
      const order = await lockOrder(tx, event.payload.orderId);
      if (!order) throw new UnrecoverableError(`order ${event.payload.orderId} does not exist`);
      const previousStatus = order.status;
      if (previousStatus === "cancelled" || previousStatus === "rejected") return;
      if (previousStatus === "confirmed" || previousStatus === "paid") await releaseStock(tx, await itemQuantities(tx, order.id));
      const refundAmount = previousStatus === "paid" ? await refundPaidPayments(tx, order.id, "order_cancelled") : 0;
      await setOrderStatus(tx, order.id, "cancelled", event.payload.reason);
      await writeEvent({
        eventType: "order.cancellation_completed", aggregateId: order.id, tenantId: order.tenantId,
        payload: { orderId: order.id, tenantId: order.tenantId, previousStatus, refundAmount },
      });
      // Payments that waited for a pending order's decision are refunded, as if they came after it.
      await settleAwaitingPayments(tx, { ...order, status: "cancelled" }, writeEvent);
    }, unbatched),
  ];
}
