import { createRoute, z } from "@hono/zod-openapi";
import { address } from "../../events/catalog.ts";
import { COUNTRY_CODES } from "../../lib/countries.ts";
import { identifier, money, text } from "../../lib/validation.ts";
import { requireJson } from "../validate.ts";
import { errorResponse, errorResponses, IdParam, jsonBody, jsonResponse, reuse, SECURITY, timestamp } from "./shared.ts";

const price = () => reuse(money).openapi({ description: "Major units, at most two decimals (a multiple of 0.01)." });

export const Address = reuse(address).extend({
  country: reuse(address.shape.country).openapi({ enum: [...COUNTRY_CODES], description: "An ISO 3166-1 alpha-2 code.", example: "TR" }),
}).openapi("Address", {
  example: { firstName: "John", lastName: "Doe", address1: "123 Main St", city: "Istanbul", postalCode: "34000", country: "TR" },
});

// The price is the catalog's: a client may send the price it showed, and a different one is a 409.
const OrderLine = z.strictObject({
  productId: z.uuid(),
  quantity: z.number().int().min(1).max(1000),
  unitPrice: price().optional(),
});

export const NewOrder = z
  .strictObject({
    tenantId: identifier(),
    customerId: identifier(255),
    customerEmail: z.email().max(254),
    items: z.array(OrderLine).min(1).max(100),
    shippingAddress: Address,
    billingAddress: Address.optional(),
  })
  .openapi("NewOrder", {
    example: {
      tenantId: "tenant-123", customerId: "customer-456", customerEmail: "customer@example.com",
      items: [{ productId: "0b9a7f3e-5c1d-4e2f-9a8b-7c6d5e4f3a21", quantity: 2, unitPrice: 12.5 }],
      shippingAddress: { firstName: "John", lastName: "Doe", address1: "123 Main St", city: "Istanbul", postalCode: "34000", country: "TR" },
    },
  });

export const Cancellation = z.strictObject({ reason: text(500) }).openapi("Cancellation", { example: { reason: "changed my mind" } });

export const NewPayment = z
  .strictObject({
    paymentId: identifier(255),
    amount: price().refine((v) => v > 0, "must be greater than 0"),
    status: z.enum(["succeeded", "failed"]),
  })
  .openapi("NewPayment", { example: { paymentId: "pay_123", amount: 25, status: "succeeded" } });

// Printable ASCII: keys are compared byte for byte and echoed nowhere.
const IdempotencyHeaders = z.object({
  "idempotency-key": z
    .string()
    .regex(/^[\x21-\x7E]{1,255}$/, "must be 1 to 255 printable ASCII characters")
    .optional()
    .openapi({
      param: { in: "header", required: false },
      description: "Per tenant, kept 24 h: the same key and body return the first response again and create nothing.",
      example: "checkout-42",
    }),
});

const StoredAddress = z.record(z.string(), z.string()).openapi({ description: "The address as sent." });

export const Order = z
  .object({
    id: z.uuid(),
    orderNumber: z.string(),
    tenantId: z.string(),
    customerId: z.string(),
    customerEmail: z.string(),
    status: z.enum(["pending", "confirmed", "rejected", "paid", "cancelled"]),
    statusReason: z.string().optional().openapi({ description: "Why it was rejected: `insufficient_stock` or `unknown_product`." }),
    totalAmount: z.number(),
    items: z.array(z.object({ productId: z.uuid(), quantity: z.int(), unitPrice: z.number() })),
    shippingAddress: StoredAddress,
    billingAddress: StoredAddress.optional(),
    cancellationRequested: z.boolean(),
    createdAt: timestamp(),
    updatedAt: timestamp(),
  })
  .openapi("Order");

export const OrderDetail = Order.extend({
  payments: z.array(z.object({
    paymentId: z.string(), amount: z.number(), status: z.enum(["succeeded", "failed"]),
    applied: z.boolean().openapi({ description: "This payment moved the order to paid." }),
    awaitingDecision: z.boolean().openapi({ description: "Received while the order was pending: neither applied nor refunded until inventory decides the order." }),
    createdAt: timestamp(),
  })),
  refunds: z.array(z.object({ paymentId: z.string(), amount: z.number(), reason: z.string(), createdAt: timestamp() })),
}).openapi("OrderDetail");

const tags = ["Orders"];

export const createOrderRoute = createRoute({
  method: "post", path: "/", tags, operationId: "createOrder", security: SECURITY.tenant,
  summary: "Place an order",
  description: "Prices each line from the catalog and writes the order, its lines and `order.created` in one transaction.",
  middleware: [requireJson] as const,
  request: { headers: IdempotencyHeaders, body: jsonBody(NewOrder) },
  responses: {
    201: jsonResponse(Order, "The order (again, for a repeated Idempotency-Key and body)."),
    ...errorResponses(400, 401, 403, 413),
    409: errorResponse(409, "An `unitPrice` that is not the catalog's (`price_changed`, naming each line), or an Idempotency-Key reused with another body (`idempotency_key_reused`)."),
  },
});

export const getOrderRoute = createRoute({
  method: "get", path: "/{id}", tags, operationId: "getOrder", security: SECURITY.tenant,
  summary: "Read an order",
  description: "The order with its status, lines, payments and refunds; another tenant's order is a 404.",
  request: { params: IdParam },
  responses: { 200: jsonResponse(OrderDetail, "The order."), ...errorResponses(400, 401, 404) },
});

export const cancelOrderRoute = createRoute({
  method: "post", path: "/{id}/cancel", tags, operationId: "cancelOrder", security: SECURITY.tenant,
  summary: "Request a cancellation",
  description: "Emits `order.cancelled`; inventory then cancels the order (and refunds a paid one).",
  middleware: [requireJson] as const,
  request: { params: IdParam, body: jsonBody(Cancellation) },
  responses: {
    202: jsonResponse(z.object({ id: z.uuid(), cancellationRequested: z.literal(true) }), "The cancellation is requested."),
    ...errorResponses(400, 401, 404, 413),
    409: errorResponse(409, "Already cancelled or rejected, or a cancellation was already requested (`conflict`)."),
  },
});

const PaymentAccepted = z.object({ orderId: z.uuid(), paymentId: z.string(), eventId: z.uuid(), accepted: z.literal(true), duplicate: z.boolean() });

export const submitPaymentRoute = createRoute({
  method: "post", path: "/{id}/payments", tags: ["Payments"], operationId: "submitPayment", security: SECURITY.tenant,
  summary: "Report a payment",
  description: "Emits `payment.processed`; the payments handler records it once per `paymentId`.",
  middleware: [requireJson] as const,
  request: { params: IdParam, body: jsonBody(NewPayment) },
  responses: {
    200: jsonResponse(PaymentAccepted, "The same `paymentId` again: `duplicate: true`, nothing emitted."),
    202: jsonResponse(PaymentAccepted, "The payment is accepted."),
    ...errorResponses(400, 401, 404, 413),
    409: errorResponse(409, "The `paymentId` was used for another order, amount or status (`conflict`)."),
  },
});
