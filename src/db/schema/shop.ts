import { sql } from "drizzle-orm";
import { boolean, check, index, integer, jsonb, numeric, pgSequence, pgTable, primaryKey, text, timestamp, unique, uuid } from "drizzle-orm/pg-core";

/** Money: major units with two decimals; read back as a JS number. */
const money = (name: string) => numeric(name, { precision: 12, scale: 2, mode: "number" });

export const orderNumberSeq = pgSequence("order_number_seq", { startWith: 1 });

export const products = pgTable(
  "products",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
    tenantId: text("tenant_id").notNull(),
    sku: text("sku").notNull(),
    name: text("name").notNull(),
    price: money("price").notNull(),
    stock: integer("stock").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    unique("products_tenant_sku_unique").on(t.tenantId, t.sku),
    check("products_stock_nonnegative", sql`${t.stock} >= 0`),
    check("products_price_nonnegative", sql`${t.price} >= 0`),
  ],
);

export type OrderStatus = "pending" | "confirmed" | "rejected" | "paid" | "cancelled";

export const orders = pgTable(
  "orders",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
    orderNumber: text("order_number").notNull().unique().default(sql`('ORD-' || lpad(nextval('order_number_seq')::text, 8, '0'))`),
    tenantId: text("tenant_id").notNull(),
    customerId: text("customer_id").notNull(),
    customerEmail: text("customer_email").notNull(),
    status: text("status").$type<OrderStatus>().notNull().default("pending"),
    statusReason: text("status_reason"),
    totalAmount: money("total_amount").notNull(),
    shippingAddress: jsonb("shipping_address").notNull(),
    billingAddress: jsonb("billing_address"),
    /** Set once by POST /orders/:id/cancel, so a second request is refused rather than emitting twice. */
    cancelRequestedAt: timestamp("cancel_requested_at", { withTimezone: true }),
    cancellationReason: text("cancellation_reason"),
    /** Set while a payment waits for this pending order's decision (payments.awaiting_decision), so deciding an order without one reads nothing more. */
    paymentsAwaiting: boolean("payments_awaiting").notNull().default(false),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("orders_tenant_created_idx").on(t.tenantId, t.createdAt)],
);

export const orderItems = pgTable(
  "order_items",
  {
    orderId: uuid("order_id").notNull().references(() => orders.id, { onDelete: "cascade" }),
    line: integer("line").notNull(),
    /** Not a foreign key: an order may name a product that does not exist (it is then rejected). */
    productId: uuid("product_id").notNull(),
    quantity: integer("quantity").notNull(),
    unitPrice: money("unit_price").notNull(),
  },
  (t) => [primaryKey({ columns: [t.orderId, t.line] })],
);

/** One row per paymentId: the payments handler records each payment once. */
export const payments = pgTable(
  "payments",
  {
    paymentId: text("payment_id").primaryKey(),
    orderId: uuid("order_id").notNull().references(() => orders.id, { onDelete: "cascade" }),
    amount: money("amount").notNull(),
    status: text("status").$type<"succeeded" | "failed">().notNull(),
    /** True when this payment moved its order to `paid`. */
    applied: boolean("applied").notNull().default(false),
    /**
     * A succeeded payment that arrived while its order was pending: it waits here, neither applied
     * nor refunded, until inventory decides the order and settles it in the same transaction.
     */
    awaitingDecision: boolean("awaiting_decision").notNull().default(false),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("payments_order_idx").on(t.orderId)],
);

/** Money owed back: a paid order cancelled, or a payment for an order that cannot be paid. */
export const refunds = pgTable(
  "refunds",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
    orderId: uuid("order_id").notNull().references(() => orders.id, { onDelete: "cascade" }),
    paymentId: text("payment_id").notNull().unique(),
    amount: money("amount").notNull(),
    reason: text("reason").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("refunds_order_idx").on(t.orderId)],
);
