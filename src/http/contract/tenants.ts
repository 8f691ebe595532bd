import { createRoute, z } from "@hono/zod-openapi";
import { identifier } from "../../lib/validation.ts";
import { errorResponses, jsonResponse, SECURITY } from "./shared.ts";

const TenantParam = z.object({ tenantId: identifier().openapi({ param: { name: "tenantId", in: "path" }, example: "tenant-123" }) });

const TenantStats = z
  .object({
    tenantId: z.string(),
    name: z.string().optional().openapi({ description: "From `tenant.created`, when one was seen." }),
    slug: z.string().nullable().optional(),
    ordersCreated: z.int(), ordersConfirmed: z.int(), ordersRejected: z.int(), ordersCancelled: z.int(), ordersPaid: z.int(),
    revenue: z.number().openapi({ description: "Paid totals less the refunds of paid orders cancelled later." }),
    productsCreated: z.int(), usersCreated: z.int(),
  })
  .openapi("TenantStats", {
    example: {
      tenantId: "tenant-123", ordersCreated: 10, ordersConfirmed: 8, ordersRejected: 2, ordersCancelled: 1, ordersPaid: 6,
      revenue: 150, productsCreated: 3, usersCreated: 2,
    },
  });

export const tenantStatsRoute = createRoute({
  method: "get", path: "/{tenantId}/stats", tags: ["Tenants"], operationId: "getTenantStats", security: SECURITY.tenant,
  summary: "Read a tenant's counters",
  description: "Exact per-tenant counters, each event counted once; a tenant no event named is all zeros. Another tenant's counters are a 404.",
  request: { params: TenantParam },
  responses: { 200: jsonResponse(TenantStats, "The counters."), ...errorResponses(400, 401, 404) },
});
