import { integer, numeric, pgTable, text, timestamp } from "drizzle-orm/pg-core";

/** Per-tenant counters, kept by the analytics handler; each event counts once (processed_events). */
export const tenantStats = pgTable("tenant_stats", {
  tenantId: text("tenant_id").primaryKey(),
  name: text("name"),
  slug: text("slug"),
  ordersCreated: integer("orders_created").notNull().default(0),
  ordersConfirmed: integer("orders_confirmed").notNull().default(0),
  ordersRejected: integer("orders_rejected").notNull().default(0),
  ordersCancelled: integer("orders_cancelled").notNull().default(0),
  ordersPaid: integer("orders_paid").notNull().default(0),
  /** Paid order totals less refunds of paid orders that were cancelled. */
  revenue: numeric("revenue", { precision: 14, scale: 2, mode: "number" }).notNull().default(0),
  productsCreated: integer("products_created").notNull().default(0),
  usersCreated: integer("users_created").notNull().default(0),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});
