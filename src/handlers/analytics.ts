import type { EventPayload, EventType } from "../events/catalog.ts";
import type { StreamEvent, Subscription } from "../engine/index.ts";
import { addToCounters, nameTenants, type Counter, type TenantDelta } from "../tenants/tenant-stats.ts";
import { onBatch } from "./on.ts";

type Event<T extends EventType> = StreamEvent<EventPayload<T>>;

/**
 * Counts a batch of events set-based: summed per tenant in memory, then one statement for every
 * tenant of the batch (locking their rows in tenant order). Events from other services may name
 * no tenant; those are not counted anywhere.
 */
function count<T extends EventType>(eventType: T, counter: Counter, tenantOf: (e: Event<T>) => string | null | undefined, revenueOf: (e: Event<T>) => number = () => 0): Subscription {
  return onBatch(eventType, "analytics", async (events, { tx }) => {
    const byTenant = new Map<string, TenantDelta>();
    for (const e of events) {
      const tenantId = tenantOf(e);
      if (!tenantId) continue;
      const d = byTenant.get(tenantId) ?? { tenantId, count: 0, revenue: 0 };
      d.count += 1;
      d.revenue += revenueOf(e);
      byTenant.set(tenantId, d);
    }
    await addToCounters(tx, counter, [...byTenant.values()]);
  }, { lockKey: (e) => tenantOf(e) ?? "" });
}

/**
 * Exact per-tenant counters. Counts facts, not requests: a cancellation counts when it took
 * effect (order.cancellation_completed), a payment when it paid its order (order.paid). Each
 * event counts once because the counter update commits with its processed_events record.
 */
export function analyticsHandlers(): Subscription[] {
  const payloadTenant = (e: { payload: { tenantId: string } }) => e.payload.tenantId;
  return [
    count("order.created", "ordersCreated", payloadTenant),
    count("order.confirmed", "ordersConfirmed", payloadTenant),
    count("order.rejected", "ordersRejected", payloadTenant),
    count("order.paid", "ordersPaid", payloadTenant, (e) => e.payload.amount),
    // Revenue is net: a paid order cancelled later takes its refund back out.
    count("order.cancellation_completed", "ordersCancelled", payloadTenant, (e) => -e.payload.refundAmount),
    count("product.created", "productsCreated", (e) => e.payload.tenantId ?? e.tenantId),
    count("user.created", "usersCreated", (e) => e.tenantId),
    onBatch("tenant.created", "analytics", (events, { tx }) =>
      nameTenants(tx, events.map((e) => ({ tenantId: e.payload.tenantId, name: e.payload.name, slug: e.payload.slug }))),
    { lockKey: (e) => e.payload.tenantId }),
  ];
}

