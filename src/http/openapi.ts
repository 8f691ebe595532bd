import type { OpenAPIHono } from "@hono/zod-openapi";
import { swaggerUI } from "@hono/swagger-ui";
import { docsRoute, openApiJsonRoute } from "./contract/openapi.ts";

type Document = ReturnType<OpenAPIHono["getOpenAPI31Document"]>;

const TAGS = [
  ["Products", "The tenant's catalog."],
  ["Orders", "Placing, reading and cancelling orders."],
  ["Payments", "Payments reported for an order."],
  ["Tenants", "Per-tenant counters."],
  ["API keys", "Keys that act for one tenant (admin)."],
  ["Events", "Events from other services, delayed events, and where an event is (admin)."],
  ["Schedules", "Recurring schedules that write one event per due time (admin)."],
  ["Webhooks", "Signed webhooks from providers, and the stored rows (admin)."],
  ["Dead letters", "Dead letters: search, retry, delete (admin)."],
  ["Handlers", "Handlers across the fleet: state, activity, pause and resume (admin)."],
  ["Fleet", "Machines, recovery and the outbox backlog (admin)."],
  ["Health", "Liveness, readiness, health and queues."],
  ["Metrics", "Prometheus metrics."],
  ["Contract", "This document and its interactive reference."],
] as const;

/** The security schemes the operations name (src/http/contract/shared.ts, SECURITY). */
function registerSecuritySchemes(app: OpenAPIHono): void {
  const r = app.openAPIRegistry;
  r.registerComponent("securitySchemes", "adminToken", {
    type: "http", scheme: "bearer",
    description: "`Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time. Acts for any tenant on the business routes.",
  });
  r.registerComponent("securitySchemes", "apiKey", {
    type: "http", scheme: "bearer", bearerFormat: "osk_<43 characters>",
    description: "A tenant's API key (`POST /api-keys`): acts for that tenant only. Required with API_AUTH=keys (the default in production).",
  });
  r.registerComponent("securitySchemes", "webhookSignature", {
    type: "apiKey", in: "header", name: "webhook-signature",
    description: "Standard Webhooks: `v1,<base64 HMAC-SHA256 of \"<webhook-id>.<webhook-timestamp>.<raw body>\">` under the provider's WEBHOOK_SECRETS entry (several space-separated allowed).",
  });
  r.registerComponent("securitySchemes", "shopeeSignature", {
    type: "apiKey", in: "header", name: "Authorization",
    description: "Shopee Open Platform push (`/webhooks/shopee`): the hex HMAC-SHA256 of `<callback URL>|<body>` under SHOPEE_PARTNER_KEY.",
  });
  r.registerComponent("securitySchemes", "metricsToken", {
    type: "http", scheme: "bearer", description: "`Authorization: Bearer <METRICS_TOKEN>`, when METRICS_TOKEN is set (not the admin token).",
  });
}

/** The OpenAPI 3.1 document of every route registered on `app` so far. */
export function openApiDocument(app: OpenAPIHono): Document {
  return app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "Orderstream",
      version: "0.1.0",
      description: "Orders, products, payments and events with a transactional outbox delivered over Redis Streams. Every error has one shape (`Error`).",
      // Not open source: all rights reserved (SPDX has no identifier for that, hence a LicenseRef).
      license: { name: "Proprietary", identifier: "LicenseRef-Proprietary" } as { name: string },
    },
    // Relative: the service the document was read from (/openapi.json), wherever it runs.
    servers: [{ url: "/", description: "The service that serves this document." }],
    tags: TAGS.map(([name, description]) => ({ name, description })),
    security: [],
  });
}

/**
 * `GET /openapi.json` and `GET /docs` (Swagger UI). Register last: the document is built on the
 * first request from every route registered by then, and kept.
 */
export function contractRoutes(app: OpenAPIHono): void {
  registerSecuritySchemes(app);
  let document: Document | undefined;
  app.openapi(openApiJsonRoute, (c) => c.json((document ??= openApiDocument(app)) as never, 200));
  app.openapi(docsRoute, swaggerUI({ url: "/openapi.json", title: "Orderstream API" }) as never);
}
