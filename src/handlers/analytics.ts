import type { Tx } from "../db/client.ts";
import type { Subscription } from "../streams/handler.ts";
import { countForTenant, nameTenant, type Counter } from "../tenants/tenant-stats.ts";
import { on } from "./on.ts";

/** Events from other services may name no tenant; those are not counted anywhere. */
const countIfTenant = async (tx: Tx, tenantId: string | null | undefined, counter: Counter) => {
  if (tenantId) await countForTenant(tx, tenantId, counter);
};

/**
 * Exact per-tenant counters. Counts facts, not requests: a cancellation counts when it took
 * effect (order.cancellation_completed), a payment when it paid its order (order.paid). Each
 * event counts once because the counter update commits with its processed_events record.
 */
export function analyticsHandlers(): Subscription[] {
  return [
    on("order.created", "analytics", (e, { tx }) => countForTenant(tx, e.payload.tenantId, "ordersCreated")),
    on("order.confirmed", "analytics", (e, { tx }) => countForTenant(tx, e.payload.tenantId, "ordersConfirmed")),
    on("order.rejected", "analytics", (e, { tx }) => countForTenant(tx, e.payload.tenantId, "ordersRejected")),
    on("order.paid", "analytics", (e, { tx }) => countForTenant(tx, e.payload.tenantId, "ordersPaid", e.payload.amount)),
    // Revenue is net: a paid order cancelled later takes its refund back out.
    on("order.cancellation_completed", "analytics", (e, { tx }) => countForTenant(tx, e.payload.tenantId, "ordersCancelled", -e.payload.refundAmount)),
    on("product.created", "analytics", (e, { tx }) => countIfTenant(tx, e.payload.tenantId ?? e.tenantId, "productsCreated")),
    on("user.created", "analytics", (e, { tx }) => countIfTenant(tx, e.tenantId, "usersCreated")),
    on("tenant.created", "analytics", (e, { tx }) => nameTenant(tx, e.payload.tenantId, e.payload.name, e.payload.slug)),
  ];
}
