import { lockOrder } from "../orders/order-store.ts";
import { paymentRecorded, receivePayment } from "../orders/payments.ts";
import { on } from "./on.ts";
import { UnrecoverableError, type Subscription } from "../engine/index.ts";

/**
 * payment.processed: records the payment once per paymentId. A succeeded payment of exactly the
 * total moves a confirmed order to paid; one that cannot pay its order (cancelled, rejected,
 * already paid, another amount) is recorded and refunded. One that arrives while the order is
 * pending is recorded as awaiting its decision, and inventory settles it when it decides.
 */
export function paymentHandlers(): Subscription[] {
  return [
    on("payment.processed", "payments", async (event, { tx, writeEvent }) => {
      const p = event.payload;
      const order = await lockOrder(tx, p.orderId);
      if (!order) throw new UnrecoverableError(`order ${p.orderId} does not exist`);
      if (await paymentRecorded(tx, p.paymentId)) return;
      await receivePayment(tx, order, p, writeEvent);
    }, { lockKey: (e) => e.payload.orderId }),
  ];
}
