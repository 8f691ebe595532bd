import { createRoute, z } from "@hono/zod-openapi";
import { errorResponses } from "./shared.ts";

// Any request with a body over MAX_BODY_BYTES is refused before routing (bodyLimit in app.ts).
const { 413: tooLarge } = errorResponses(413);

const tags = ["Contract"];

export const openApiJsonRoute = createRoute({
  method: "get", path: "/openapi.json", tags, operationId: "getOpenApiDocument", security: [],
  summary: "This document",
  description: "The OpenAPI 3.1 document, generated from the zod schemas that validate requests and shape responses.",
  responses: {
    200: { description: "The document.", content: { "application/json": { schema: z.object({ openapi: z.string() }).catchall(z.unknown()) } } },
    413: tooLarge,
  },
});

export const docsRoute = createRoute({
  method: "get", path: "/docs", tags, operationId: "getApiReference", security: [],
  summary: "Interactive reference",
  description: "Swagger UI on `/openapi.json` (its scripts and styles load from a CDN).",
  responses: { 200: { description: "An HTML page.", content: { "text/html": { schema: z.string() } } }, 413: tooLarge },
});
