// The peer's jobs for the shipped scenarios: the same effects as our shipped handlers, with the
// same exactly-once guarantee (a processed_events record in the job's transaction), done the way
// a BullMQ worker does them: one job, one transaction, all of the event's effects in it.
import { sql as dsql } from "drizzle-orm";
import type { Db, Tx } from "../../src/db/client.ts";
import { notifications } from "../../src/db/schema.ts";
import * as messages from "../../src/notifications/messages.ts";
import { writeEvent } from "../../src/engine/index.ts";
import type { EventPayload } from "../../src/events/catalog.ts";
import { itemQuantities, lockOrder, setOrderStatus } from "../../src/orders/order-store.ts";
import { reserveStock } from "../../src/products/products.ts";
import { addToCounters } from "../../src/tenants/tenant-stats.ts";

export const PEER_HANDLER = "peer";

/** Runs `effects` once per event: false (and nothing done) when the event was processed before. */
export async function onceInTransaction(db: Db, eventId: string, effects: (tx: Tx) => Promise<void>): Promise<boolean> {
  return db.transaction(async (tx) => {
    const claimed = await tx.execute(dsql`insert into processed_events (handler, event_id) values (${PEER_HANDLER}, ${eventId}) on conflict do nothing returning 1`);
    if (claimed.length === 0) return false;
    await effects(tx);
    return true;
  });
}

export interface UserCreated {
  userId: string;
  email: string;
  role: string;
}

/** user.created: the welcome e-mail's row (notifications) and the tenant's counter (analytics). */
export async function welcomeUser(db: Db, event: { id: string; tenantId: string; payload: UserCreated }): Promise<boolean> {
  return onceInTransaction(db, event.id, async (tx) => {
    const email = messages.welcome({ ...event.payload });
    await tx.insert(notifications).values({ eventId: event.id, eventType: "user.created", tenantId: event.tenantId, ...email, status: "sent", sentAt: dsql`now()` });
    await addToCounters(tx, "usersCreated", [{ tenantId: event.tenantId, count: 1, revenue: 0 }]);
  });
}

/**
 * order.created: what our inventory and analytics handlers do, in one job: reserve the order's
 * stock and confirm it (writing order.confirmed to the outbox), or reject it; count it.
 */
export async function reserveOrder(db: Db, event: { id: string; payload: { orderId: string; tenantId: string } }): Promise<boolean> {
  return onceInTransaction(db, event.id, async (tx) => {
    const order = await lockOrder(tx, event.payload.orderId);
    if (!order) throw new Error(`order ${event.payload.orderId} does not exist`);
    await addToCounters(tx, "ordersCreated", [{ tenantId: order.tenantId, count: 1, revenue: 0 }]);
    if (order.status !== "pending") return;
    const result = await reserveStock(tx, order.tenantId, await itemQuantities(tx, order.id));
    const base = { orderId: order.id, orderNumber: order.orderNumber, tenantId: order.tenantId, customerEmail: order.customerEmail };
    if (result.ok) {
      await setOrderStatus(tx, order.id, "confirmed", null);
      await writeEvent(tx, { eventType: "order.confirmed", aggregateId: order.id, tenantId: order.tenantId, payload: { ...base, totalAmount: order.totalAmount } });
    } else {
      await setOrderStatus(tx, order.id, "rejected", result.reason);
      await writeEvent(tx, { eventType: "order.rejected", aggregateId: order.id, tenantId: order.tenantId, payload: { ...base, reason: result.reason } });
    }
  });
}

/** order.confirmed: what our notifications and analytics handlers do, in one job. */
export async function announceConfirmed(db: Db, event: { id: string; payload: EventPayload<"order.confirmed"> }): Promise<boolean> {
  return onceInTransaction(db, event.id, async (tx) => {
    const email = messages.orderConfirmed(event.payload);
    await tx.insert(notifications).values({ eventId: event.id, eventType: "order.confirmed", tenantId: event.payload.tenantId, ...email, status: "sent", sentAt: dsql`now()` });
    await addToCounters(tx, "ordersConfirmed", [{ tenantId: event.payload.tenantId, count: 1, revenue: 0 }]);
  });
}
