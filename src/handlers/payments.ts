import { toCents } from "../lib/validation.ts";
import { lockOrder, setOrderStatus } from "../orders/order-store.ts";
import { paymentRecorded, recordPayment } from "../orders/payments.ts";
import { refundPayment } from "../orders/refunds.ts";
import { on } from "./on.ts";
import { UnrecoverableError, type Subscription } from "../engine/index.ts";

/** Thrown while the order is still pending: an ordinary error, so the engine retries with backoff. */
export class OrderNotDecidedError extends Error {
  override name = "OrderNotDecidedError";
}

/**
 * payment.processed: records the payment once per paymentId. A succeeded payment of exactly the
 * total moves a confirmed order to paid; one that cannot pay its order (cancelled, rejected,
 * already paid, another amount) is recorded and refunded. While the order is pending the
 * handler fails and is retried, with more attempts than usual, until inventory decides it.
 */
export function paymentHandlers(): Subscription[] {
  return [
    on("payment.processed", "payments", async (event, { tx, writeEvent }) => {
      const p = event.payload;
      const order = await lockOrder(tx, p.orderId);
      if (!order) throw new UnrecoverableError(`order ${p.orderId} does not exist`);
      if (await paymentRecorded(tx, p.paymentId)) return;
      if (order.status === "pending") throw new OrderNotDecidedError(`order ${order.id} is still pending; the payment waits for its stock decision`);
      const applies = p.status === "succeeded" && order.status === "confirmed" && toCents(p.amount) === toCents(order.totalAmount);
      await recordPayment(tx, { paymentId: p.paymentId, orderId: order.id, amount: p.amount, status: p.status, applied: applies });
      if (applies) {
        await setOrderStatus(tx, order.id, "paid", null);
        await writeEvent({ eventType: "order.paid", aggregateId: order.id, tenantId: order.tenantId, payload: { orderId: order.id, tenantId: order.tenantId, paymentId: p.paymentId, amount: p.amount } });
      } else if (p.status === "succeeded") {
        const reason = order.status === "confirmed" ? "amount_mismatch" : order.status === "paid" ? "order_already_paid" : `order_${order.status}`;
        await refundPayment(tx, order.id, p.paymentId, p.amount, reason);
      }
    }, { maxAttempts: 30, lockKey: (e) => e.payload.orderId }),
  ];
}
