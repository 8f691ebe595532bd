import { Hono } from "hono";
import { z } from "zod";
import { identifier } from "../lib/validation.ts";
import { getTenantStats } from "../tenants/tenant-stats.ts";
import type { AppDeps } from "./app.ts";
import { validate } from "./validate.ts";

export function tenantRoutes(deps: AppDeps): Hono {
  return new Hono().get("/:tenantId/stats", validate("param", z.object({ tenantId: identifier() })), async (c) =>
    c.json(await getTenantStats(deps.db, c.req.valid("param").tenantId)),
  );
}
