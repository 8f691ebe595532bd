import { createRoute, z } from "@hono/zod-openapi";
import { envelope, shopeeEnvelope } from "../../webhooks/parse-webhook.ts";
import { anyJson, errorResponse, errorResponses, jsonResponse, reuse, schemaOnly, SECURITY, timestamp } from "./shared.ts";

const ProviderParams = z.object({
  provider: z.string().min(1).openapi({ param: { name: "provider", in: "path" }, description: "A provider of WEBHOOK_SECRETS, or `shopee`.", example: "acme" }),
});

// Read by the handler after the signature is checked; documented here, never refused by a validator first.
const SignatureHeaders = z.object({
  "webhook-id": z.string().optional().openapi({ param: { name: "webhook-id", in: "header" }, description: "Standard Webhooks: the delivery id, 1 to 255 printable ASCII characters; the same id again is a duplicate.", example: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W" }),
  "webhook-timestamp": z.string().optional().openapi({ param: { name: "webhook-timestamp", in: "header" }, description: "Standard Webhooks: Unix seconds, within 5 minutes of the server's clock.", example: "1764757800" }),
});

/** What a provider sends: a Standard Webhooks `{type, data}`, or a Shopee push `{code, timestamp}`. */
const WebhookBody = z.union([
  reuse(envelope).extend({ data: z.unknown().optional() }).openapi({ description: "`inventory.stock_updated {productId, stock}`, `inventory.price_updated {productId, price}`, `payment.succeeded {orderId, paymentId, amount}`; other types are stored and ignored." }),
  reuse(shopeeEnvelope).openapi({ description: "A Shopee Open Platform push (`/webhooks/shopee`)." }),
]);

const WebhookRow = z
  .object({
    id: z.uuid(), provider: z.string(), webhookId: z.string(), eventType: z.string(),
    status: z.enum(["pending", "processing", "completed", "failed"]),
    retryCount: z.int(), lastError: z.string().nullable(), result: z.string().nullable(),
    receivedAt: timestamp(), processedAt: timestamp().nullable(), payload: anyJson(),
  })
  .openapi("Webhook");

const tags = ["Webhooks"];

export const receiveWebhookRoute = createRoute({
  method: "post", path: "/{provider}", tags, operationId: "receiveWebhook",
  security: [{ webhookSignature: [] }, { shopeeSignature: [] }],
  summary: "Receive a signed webhook",
  description: "Checked in this order: unknown provider 404; signature or timestamp 401; body 400; type outside the provider's WEBHOOK_SCOPES 403. Stored with its `webhook.received` event and applied afterwards.",
  request: {
    params: ProviderParams,
    headers: SignatureHeaders,
    body: {
      required: true,
      content: { "application/json": { schema: schemaOnly(WebhookBody), example: { type: "inventory.stock_updated", data: { productId: "0b9a7f3e-5c1d-4e2f-9a8b-7c6d5e4f3a21", stock: 42 } } } },
    },
  },
  responses: {
    200: jsonResponse(z.object({ received: z.literal(true), duplicate: z.literal(true) }), "The same delivery id again: stored nothing."),
    202: jsonResponse(z.object({ received: z.literal(true), id: z.uuid(), duplicate: z.literal(false) }), "Stored; it is applied next."),
    ...errorResponses(400, 413),
    401: errorResponse(401, "A missing or wrong signature, or a stale timestamp (`invalid_signature`); nothing is stored."),
    403: errorResponse(403, "A type outside the provider's WEBHOOK_SCOPES (`forbidden`, naming `type`); nothing is stored."),
    404: errorResponse(404, "An unknown provider (`not_found`)."),
  },
});

export const getWebhookRoute = createRoute({
  method: "get", path: "/{provider}/{webhookId}", tags, operationId: "getWebhook", security: SECURITY.admin,
  summary: "Read a stored webhook",
  description: "The stored row: status, retries, last error, result and payload.",
  request: {
    params: ProviderParams.extend({ webhookId: z.string().min(1).openapi({ param: { name: "webhookId", in: "path" }, example: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W" }) }),
  },
  responses: { 200: jsonResponse(WebhookRow, "The webhook."), ...errorResponses(401, 404) },
});
