import { createHash } from "node:crypto";
import { requestCancellation } from "../orders/cancel-order.ts";
import { createOrder } from "../orders/create-order.ts";
import { loadOrderView } from "../orders/order-store.ts";
import { submitPayment } from "../orders/submit-payment.ts";
import { requireOwnTenant, tenantScope, type AuthEnv } from "./api-auth.ts";
import type { AppDeps } from "./app.ts";
import { cancelOrderRoute, createOrderRoute, getOrderRoute, submitPaymentRoute } from "./contract/orders.ts";
import { notFound } from "./errors.ts";
import { openApiRoutes } from "./validate.ts";

/** Orders of the caller's tenant (apiAuth in app.ts): another tenant's order is not found. */
export function orderRoutes(deps: AppDeps) {
  const relay = () => deps.engine?.relay ?? undefined;
  return openApiRoutes<AuthEnv>()
    .openapi(createOrderRoute, async (c) => {
      const key = c.req.valid("header")["idempotency-key"];
      const body = c.req.valid("json");
      requireOwnTenant(c, body.tenantId);
      const requestHash = createHash("sha256").update(JSON.stringify(body)).digest("hex");
      const result = await createOrder(deps.db, relay(), body, key === undefined ? undefined : { key, requestHash });
      return c.json(result.response as never, result.statusCode as 201);
    })
    .openapi(getOrderRoute, async (c) => {
      const order = await loadOrderView(deps.db, c.req.valid("param").id, tenantScope(c));
      if (!order) throw notFound("order");
      return c.json(order as never, 200);
    })
    .openapi(cancelOrderRoute, async (c) => {
      const { id } = c.req.valid("param");
      await requestCancellation(deps.db, relay(), id, c.req.valid("json").reason, tenantScope(c));
      return c.json({ id, cancellationRequested: true as const }, 202);
    })
    .openapi(submitPaymentRoute, async (c) => {
      const { id } = c.req.valid("param");
      const p = c.req.valid("json");
      const { eventId, duplicate } = await submitPayment(deps.db, relay(), id, p, tenantScope(c));
      const body = { orderId: id, paymentId: p.paymentId, eventId, accepted: true as const, duplicate };
      return duplicate ? c.json(body, 200) : c.json(body, 202);
    });
}
