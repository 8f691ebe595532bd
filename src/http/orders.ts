import { createHash } from "node:crypto";
import { Hono } from "hono";
import { z } from "zod";
import { address } from "../events/catalog.ts";
import { identifier, money, text } from "../lib/validation.ts";
import { requestCancellation } from "../orders/cancel-order.ts";
import { createOrder } from "../orders/create-order.ts";
import { loadOrderView } from "../orders/order-store.ts";
import { submitPayment } from "../orders/submit-payment.ts";
import { requireOwnTenant, tenantScope, type AuthEnv } from "./api-auth.ts";
import type { AppDeps } from "./app.ts";
import { invalid, notFound } from "./errors.ts";
import { idParam } from "./products.ts";
import { requireJson, validate } from "./validate.ts";

// The price is the catalog's: a client may send the price it showed, and a different one is a 409.
const orderLine = z.strictObject({
  productId: z.uuid(),
  quantity: z.number().int().min(1).max(1000),
  unitPrice: money.optional(),
});

const newOrder = z.strictObject({
  tenantId: identifier(),
  customerId: identifier(255),
  customerEmail: z.email().max(254),
  items: z.array(orderLine).min(1).max(100),
  shippingAddress: address,
  billingAddress: address.optional(),
});

const cancellation = z.strictObject({ reason: text(500) });
const payment = z.strictObject({ paymentId: identifier(255), amount: money.refine((v) => v > 0, "must be greater than 0"), status: z.enum(["succeeded", "failed"]) });

// Printable ASCII: keys are compared byte for byte and echoed nowhere.
const IDEMPOTENCY_KEY = /^[\x21-\x7E]{1,255}$/;

/** Orders of the caller's tenant (apiAuth in app.ts): another tenant's order is not found. */
export function orderRoutes(deps: AppDeps): Hono<AuthEnv> {
  const relay = () => deps.engine?.relay ?? undefined;
  return new Hono<AuthEnv>()
    .post("/", requireJson, validate("json", newOrder), async (c) => {
      const key = c.req.header("idempotency-key");
      if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
        throw invalid([{ path: "Idempotency-Key", message: "must be 1 to 255 printable ASCII characters" }]);
      }
      const body = c.req.valid("json");
      requireOwnTenant(c, body.tenantId);
      const requestHash = createHash("sha256").update(JSON.stringify(body)).digest("hex");
      const result = await createOrder(deps.db, relay(), body, key === undefined ? undefined : { key, requestHash });
      return c.json(result.response as object, result.statusCode as 201);
    })
    .get("/:id", validate("param", idParam), async (c) => {
      const order = await loadOrderView(deps.db, c.req.valid("param").id, tenantScope(c));
      if (!order) throw notFound("order");
      return c.json(order);
    })
    .post("/:id/cancel", validate("param", idParam), requireJson, validate("json", cancellation), async (c) => {
      const { id } = c.req.valid("param");
      await requestCancellation(deps.db, relay(), id, c.req.valid("json").reason, tenantScope(c));
      return c.json({ id, cancellationRequested: true }, 202);
    })
    .post("/:id/payments", validate("param", idParam), requireJson, validate("json", payment), async (c) => {
      const { id } = c.req.valid("param");
      const p = c.req.valid("json");
      const { eventId, duplicate } = await submitPayment(deps.db, relay(), id, p, tenantScope(c));
      return c.json({ orderId: id, paymentId: p.paymentId, eventId, accepted: true, duplicate }, duplicate ? 200 : 202);
    });
}
