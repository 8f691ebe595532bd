import { createRoute, z } from "@hono/zod-openapi";
import { identifier } from "../../lib/validation.ts";
import { requireJson } from "../validate.ts";
import { errorResponses, IdParam, jsonBody, jsonResponse, SECURITY } from "./shared.ts";

export const NewApiKey = z.strictObject({ tenantId: identifier() }).openapi("NewApiKey", { example: { tenantId: "tenant-123" } });

const CreatedApiKey = z
  .object({
    id: z.uuid(),
    tenantId: z.string(),
    key: z.string().openapi({ description: "`osk_` and 43 characters; shown only in this answer, only its SHA-256 is stored." }),
  })
  .openapi("CreatedApiKey", { example: { id: "0b9a7f3e-5c1d-4e2f-9a8b-7c6d5e4f3a21", tenantId: "tenant-123", key: "osk_3q2+7w..." } });

const tags = ["API keys"];

export const createApiKeyRoute = createRoute({
  method: "post", path: "/", tags, operationId: "createApiKey", security: SECURITY.admin,
  summary: "Create an API key for a tenant",
  description: "The key acts for its tenant only; it is answered once, with `Cache-Control: no-store`.",
  middleware: [requireJson] as const,
  request: { body: jsonBody(NewApiKey) },
  responses: { 201: jsonResponse(CreatedApiKey, "The new key."), ...errorResponses(400, 401, 413) },
});

export const revokeApiKeyRoute = createRoute({
  method: "delete", path: "/{id}", tags, operationId: "revokeApiKey", security: SECURITY.admin,
  summary: "Revoke an API key",
  description: "Refused from the next request on; revoking a revoked key is a 204 again.",
  request: { params: IdParam },
  responses: { 204: { description: "Revoked." }, ...errorResponses(400, 401, 404) },
});
