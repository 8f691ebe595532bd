import { Hono } from "hono";
import { z } from "zod";
import { identifier } from "../lib/validation.ts";
import { getTenantStats } from "../tenants/tenant-stats.ts";
import { tenantScope, type AuthEnv } from "./api-auth.ts";
import type { AppDeps } from "./app.ts";
import { notFound } from "./errors.ts";
import { validate } from "./validate.ts";

/** A tenant's counters, for that tenant's callers only (apiAuth in app.ts): another's are not found. */
export function tenantRoutes(deps: AppDeps): Hono<AuthEnv> {
  return new Hono<AuthEnv>().get("/:tenantId/stats", validate("param", z.object({ tenantId: identifier() })), async (c) => {
    const { tenantId } = c.req.valid("param");
    const scope = tenantScope(c);
    if (scope !== null && scope !== tenantId) throw notFound("tenant");
    return c.json(await getTenantStats(deps.db, tenantId));
  });
}
