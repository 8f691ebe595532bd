import { eq, sql } from "drizzle-orm";
import type { ShopContext, Tx } from "../db/client.ts";
import { notifications, orders } from "../db/schema.ts";
import * as messages from "../notifications/messages.ts";
import type { Email, Transport } from "../notifications/transport.ts";
import { on } from "./on.ts";
import type { StreamEvent, Subscription } from "../engine/index.ts";

/**
 * One e-mail per event: the `notifications` row is written in the handler's transaction, so it
 * exists exactly once. The transport runs before the commit; if the commit then fails the event
 * is retried and the e-mail may go out twice (at-least-once), never zero times.
 */
export function notificationHandlers(transport: Transport): Subscription[] {
  const deliver = async (event: StreamEvent, ctx: ShopContext, email: Email | undefined, tenantId: string | null) => {
    if (!email) return;
    await transport.send(email, ctx.signal);
    await ctx.tx.insert(notifications).values({ eventId: event.id, eventType: event.type, tenantId, ...email, status: "sent", sentAt: sql`now()` });
  };
  return [
    on("order.confirmed", "notifications", (e, ctx) => deliver(e, ctx, messages.orderConfirmed(e.payload), e.payload.tenantId)),
    on("order.rejected", "notifications", (e, ctx) => deliver(e, ctx, messages.orderRejected(e.payload), e.payload.tenantId)),
    on("order.cancelled", "notifications", async (e, ctx) => {
      const order = await findOrder(ctx.tx, e.payload.orderId);
      await deliver(e, ctx, order && messages.cancellationReceived(order, e.payload.reason), order?.tenantId ?? null);
    }),
    on("payment.processed", "notifications", async (e, ctx) => {
      const order = await findOrder(ctx.tx, e.payload.orderId);
      await deliver(e, ctx, order && messages.paymentProcessed(order, e.payload), order?.tenantId ?? null);
    }),
    on("user.created", "notifications", (e, ctx) => deliver(e, ctx, messages.welcome(e.payload), e.tenantId)),
  ];
}

/** The order's addressee; an event about an order this service does not hold sends nothing. */
async function findOrder(tx: Tx, id: string) {
  const [order] = await tx.select({ orderNumber: orders.orderNumber, customerEmail: orders.customerEmail, tenantId: orders.tenantId }).from(orders).where(eq(orders.id, id));
  return order;
}
