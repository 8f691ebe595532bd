import { eq, sql } from "drizzle-orm";
import type { Db, Tx } from "../db/client.ts";
import { tenantStats } from "../db/schema.ts";

export type Counter = "ordersCreated" | "ordersConfirmed" | "ordersRejected" | "ordersCancelled" | "ordersPaid" | "productsCreated" | "usersCreated";

/** What a batch adds to one tenant's counter. */
export interface TenantDelta {
  tenantId: string;
  count: number;
  revenue: number;
}

/**
 * Adds to `counter` (and to revenue) of each tenant, creating rows at zero first, in one
 * statement whatever the number of tenants. Rows are locked in tenant order, so two batches
 * never deadlock on them. Runs in the analytics handler's transaction: the counts commit exactly
 * when their events' processed_events records do.
 */
export async function addToCounters(tx: Tx, counter: Counter, deltas: TenantDelta[]): Promise<void> {
  if (deltas.length === 0) return;
  const column = tenantStats[counter];
  const sorted = [...deltas].sort((a, b) => (a.tenantId < b.tenantId ? -1 : a.tenantId > b.tenantId ? 1 : 0));
  await tx.insert(tenantStats)
    .values(sorted.map((d) => ({ tenantId: d.tenantId, [counter]: d.count, revenue: d.revenue })))
    .onConflictDoUpdate({
      target: tenantStats.tenantId,
      set: {
        [counter]: sql`${column} + excluded.${sql.identifier(column.name)}`,
        revenue: sql`${tenantStats.revenue} + excluded.revenue`,
        updatedAt: sql`now()`,
      },
    });
}

/** Names tenants (the last name given in a batch wins), in tenant order. */
export async function nameTenants(tx: Tx, names: { tenantId: string; name: string; slug: string }[]): Promise<void> {
  const last = new Map(names.map((n) => [n.tenantId, n]));
  if (last.size === 0) return;
  await tx.insert(tenantStats).values([...last.values()].sort((a, b) => (a.tenantId < b.tenantId ? -1 : 1)))
    .onConflictDoUpdate({ target: tenantStats.tenantId, set: { name: sql`excluded.name`, slug: sql`excluded.slug`, updatedAt: sql`now()` } });
}

/** A tenant's counters; all zero for a tenant no event has named yet. */
export async function getTenantStats(db: Db, tenantId: string) {
  const [row] = await db.select().from(tenantStats).where(eq(tenantStats.tenantId, tenantId));
  return {
    tenantId,
    ...(row?.name ? { name: row.name, slug: row.slug } : {}),
    ordersCreated: row?.ordersCreated ?? 0,
    ordersConfirmed: row?.ordersConfirmed ?? 0,
    ordersRejected: row?.ordersRejected ?? 0,
    ordersCancelled: row?.ordersCancelled ?? 0,
    ordersPaid: row?.ordersPaid ?? 0,
    revenue: row?.revenue ?? 0,
    productsCreated: row?.productsCreated ?? 0,
    usersCreated: row?.usersCreated ?? 0,
  };
}
