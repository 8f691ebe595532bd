import { createApiKey, revokeApiKey } from "../api-keys/api-keys.ts";
import type { AppDeps } from "./app.ts";
import { createApiKeyRoute, revokeApiKeyRoute } from "./contract/api-keys.ts";
import { openApiRoutes } from "./validate.ts";

/**
 * POST /api-keys (admin): a new key for a tenant, `{id, tenantId, key}`; the key is shown only
 * in this answer. DELETE /api-keys/:id (admin): revokes it at once; 204 again for a revoked key.
 * The admin guard is applied in app.ts.
 */
export function apiKeyRoutes(deps: AppDeps) {
  return openApiRoutes()
    .openapi(createApiKeyRoute, async (c) => {
      const created = await createApiKey(deps.db, c.req.valid("json").tenantId);
      // The one answer that holds a secret: no cache may keep it.
      c.header("Cache-Control", "no-store");
      return c.json({ id: created.id, tenantId: created.tenantId, key: created.key }, 201);
    })
    .openapi(revokeApiKeyRoute, async (c) => {
      await revokeApiKey(deps.db, c.req.valid("param").id);
      return c.body(null, 204);
    });
}
