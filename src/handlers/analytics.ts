import type { Tx } from "../db/client.ts";
import type { EventPayload, EventType } from "../events/catalog.ts";
import { countForTenant, nameTenant } from "../tenants/tenant-stats.ts";
import { on } from "./on.ts";
import type { StreamEvent, Subscription } from "../engine/index.ts";

/**
 * Each run changes its tenant's one tenant_stats row, so batches lock those rows in tenant order
 * (lockKey). Events from other services may name no tenant; those are not counted anywhere.
 */
function perTenant<T extends EventType>(eventType: T, tenantOf: (e: StreamEvent<EventPayload<T>>) => string | null | undefined, apply: (tx: Tx, tenantId: string, e: StreamEvent<EventPayload<T>>) => Promise<void>): Subscription {
  return on(eventType, "analytics", async (e, { tx }) => {
    const tenantId = tenantOf(e);
    if (tenantId) await apply(tx, tenantId, e);
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
    perTenant("order.created", payloadTenant, (tx, t) => countForTenant(tx, t, "ordersCreated")),
    perTenant("order.confirmed", payloadTenant, (tx, t) => countForTenant(tx, t, "ordersConfirmed")),
    perTenant("order.rejected", payloadTenant, (tx, t) => countForTenant(tx, t, "ordersRejected")),
    perTenant("order.paid", payloadTenant, (tx, t, e) => countForTenant(tx, t, "ordersPaid", e.payload.amount)),
    // Revenue is net: a paid order cancelled later takes its refund back out.
    perTenant("order.cancellation_completed", payloadTenant, (tx, t, e) => countForTenant(tx, t, "ordersCancelled", -e.payload.refundAmount)),
    perTenant("product.created", (e) => e.payload.tenantId ?? e.tenantId, (tx, t) => countForTenant(tx, t, "productsCreated")),
    perTenant("user.created", (e) => e.tenantId, (tx, t) => countForTenant(tx, t, "usersCreated")),
    perTenant("tenant.created", payloadTenant, (tx, t, e) => nameTenant(tx, t, e.payload.name, e.payload.slug)),
  ];
}
