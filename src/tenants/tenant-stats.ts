import { eq, sql } from "drizzle-orm";
import type { Db, Tx } from "../db/client.ts";
import { tenantStats } from "../db/schema.ts";

export type Counter = "ordersCreated" | "ordersConfirmed" | "ordersRejected" | "ordersCancelled" | "ordersPaid" | "productsCreated" | "usersCreated";

/**
 * Adds to one tenant's counters (creating the row at zero first). Runs in the analytics
 * handler's transaction, so an event counts exactly when its processed_events record commits.
 */
export async function countForTenant(tx: Tx, tenantId: string, counter: Counter, revenueDelta = 0): Promise<void> {
  const column = tenantStats[counter];
  await tx.insert(tenantStats)
    .values({ tenantId, [counter]: 1, revenue: revenueDelta })
    .onConflictDoUpdate({
      target: tenantStats.tenantId,
      set: { [counter]: sql`${column} + 1`, revenue: sql`${tenantStats.revenue} + ${revenueDelta}`, updatedAt: sql`now()` },
    });
}

export async function nameTenant(tx: Tx, tenantId: string, name: string, slug: string): Promise<void> {
  await tx.insert(tenantStats).values({ tenantId, name, slug })
    .onConflictDoUpdate({ target: tenantStats.tenantId, set: { name, slug, updatedAt: sql`now()` } });
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
