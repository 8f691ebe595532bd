import { z } from "zod";
import { COUNTRY_CODES } from "../lib/countries.ts";
import { identifier, line, money, storableJson, text } from "../lib/validation.ts";

// The payload of every event type the service knows: what POST /events accepts and what each
// handler's subscription checks. Payloads are open objects (unknown fields pass through), so a
// producer may add fields without breaking consumers; the fields named here are checked.

const isoDate = z.iso.datetime({ offset: true });

export const address = z.strictObject({
  firstName: line(100),
  lastName: line(100),
  address1: line(200),
  address2: line(200).optional(),
  city: line(100),
  postalCode: line(20),
  country: z.string().refine((c) => COUNTRY_CODES.has(c), "must be an ISO 3166-1 alpha-2 country code such as TR or DE"),
});

export const orderItem = z.strictObject({
  productId: z.uuid(),
  quantity: z.number().int().min(1).max(1000),
  unitPrice: money,
});

const orderRef = { orderId: z.uuid(), tenantId: identifier() };

export const eventSchemas = {
  "order.created": z.object({
    ...orderRef,
    orderNumber: line(50),
    customerId: identifier(255),
    customerEmail: z.email(),
    totalAmount: money,
    items: z.array(orderItem).min(1).max(100),
    shippingAddress: address,
    billingAddress: address.optional(),
    createdAt: isoDate,
  }),
  "order.confirmed": z.object({ ...orderRef, orderNumber: line(50), customerEmail: z.email(), totalAmount: money }),
  "order.rejected": z.object({
    ...orderRef,
    orderNumber: line(50),
    customerEmail: z.email(),
    reason: z.enum(["insufficient_stock", "unknown_product"]),
  }),
  /** A cancellation was requested (POST /orders/:id/cancel); `order.cancellation_completed` says it took effect. */
  "order.cancelled": z.object({ orderId: z.uuid(), tenantId: identifier().optional(), reason: text(500), cancelledAt: isoDate }),
  "order.cancellation_completed": z.object({
    ...orderRef,
    previousStatus: z.enum(["pending", "confirmed", "paid"]),
    refundAmount: money,
  }),
  "order.paid": z.object({ ...orderRef, paymentId: identifier(255), amount: money }),
  "payment.processed": z.object({
    paymentId: identifier(255),
    orderId: z.uuid(),
    amount: money,
    status: z.enum(["succeeded", "failed"]),
    processedAt: isoDate.optional(),
  }),
  "product.created": z.object({
    productId: z.uuid(),
    tenantId: identifier().optional(),
    sku: line(100).optional(),
    name: line(200),
    price: money,
    stock: z.number().int().min(0).optional(),
    sellerId: line(100).optional(),
    categoryId: line(100).optional(),
    createdAt: isoDate.optional(),
  }),
  "user.created": z.object({ userId: identifier(255), email: z.email(), role: line(50), createdAt: isoDate.optional() }),
  "tenant.created": z.object({ tenantId: identifier(), name: line(200), slug: z.string().regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, "lower-case words joined by -").max(100), createdAt: isoDate.optional() }),
  "webhook.received": z.object({ webhookPayloadId: z.uuid(), provider: line(64), webhookId: line(255), type: line(200) }),
} satisfies Record<string, z.ZodType>;

export type EventType = keyof typeof eventSchemas;
export type EventPayload<T extends EventType> = z.infer<(typeof eventSchemas)[T]>;

export const EVENT_TYPES = Object.keys(eventSchemas) as EventType[];

export function isEventType(value: string): value is EventType {
  return Object.hasOwn(eventSchemas, value);
}

/** A payload as POST /events accepts it: its type's schema, and storable as jsonb as a whole. */
export function eventPayloadSchema(type: EventType): z.ZodType {
  return storableJson.pipe(eventSchemas[type]);
}

/**
 * Each type's priority (0-10, higher published first under a backlog), as the seed's queues had
 * them: order intake first, then cancellations, payments, sign-ups, products, tenants; every
 * other type 1.
 */
export const EVENT_PRIORITIES: Record<string, number> = {
  "order.created": 10,
  "order.cancelled": 9,
  "payment.processed": 8,
  "user.created": 7,
  "product.created": 6,
  "tenant.created": 5,
  ...Object.fromEntries(["order.confirmed", "order.rejected", "order.cancellation_completed", "order.paid", "webhook.received"].map((t) => [t, 1])),
};
