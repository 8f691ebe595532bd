import { createRoute, z } from "@hono/zod-openapi";
import { errorResponse } from "./shared.ts";

export const metricsRoute = createRoute({
  method: "get", path: "/", tags: ["Metrics"], operationId: "getMetrics",
  security: [{}, { metricsToken: [] }],
  summary: "Prometheus metrics",
  description: "Prometheus text format 0.0.4. Open, or with METRICS_TOKEN for that token only; with METRICS_PORT served on that port alone.",
  responses: {
    200: {
      description: "The metrics.",
      content: { "text/plain": { schema: z.string(), example: "orderstream_outbox_backlog 0\n" } },
    },
    401: errorResponse(401, "METRICS_TOKEN is set and the request does not carry it (`unauthorized`).", { challenge: true }),
    // Any request with a body over MAX_BODY_BYTES is refused before routing (bodyLimit in app.ts).
    413: errorResponse(413),
    500: errorResponse(500),
  },
});
