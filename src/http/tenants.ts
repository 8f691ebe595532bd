import { getTenantStats } from "../tenants/tenant-stats.ts";
import { tenantScope, type AuthEnv } from "./api-auth.ts";
import type { AppDeps } from "./app.ts";
import { tenantStatsRoute } from "./contract/tenants.ts";
import { notFound } from "./errors.ts";
import { openApiRoutes } from "./validate.ts";

/** A tenant's counters, for that tenant's callers only (apiAuth in app.ts): another's are not found. */
export function tenantRoutes(deps: AppDeps) {
  return openApiRoutes<AuthEnv>().openapi(tenantStatsRoute, async (c) => {
    const { tenantId } = c.req.valid("param");
    const scope = tenantScope(c);
    if (scope !== null && scope !== tenantId) throw notFound("tenant");
    return c.json(await getTenantStats(deps.db, tenantId), 200);
  });
}
