import { createRoute, z } from "@hono/zod-openapi";
import { errorResponses, jsonResponse, SECURITY, timestamp } from "./shared.ts";

const Fleet = z
  .object({
    machines: z.array(z.object({ name: z.string(), host: z.string().nullable(), pid: z.int().nullable(), leaseMs: z.number().nullable() })),
    recovery: z.object({
      sentinel: z.boolean().openapi({ description: "False: Redis lost data (or never had the service) and a recovery is due." }),
      recoveredAt: timestamp().nullable(),
      by: z.string().nullable(),
    }),
    outbox: z.object({
      backlog: z.int(),
      delayed: z.int().optional(),
      oldestUnpublishedAgeMs: z.number().nullable(),
      oldest: z.object({ id: z.uuid(), eventType: z.string(), createdAt: timestamp() }).nullable(),
    }),
  })
  .openapi("Fleet");

export const fleetRoute = createRoute({
  method: "get", path: "/", tags: ["Fleet"], operationId: "getFleet", security: SECURITY.admin,
  summary: "Machines, the last recovery and the outbox backlog",
  description: "Each machine consuming now, the last recovery from Redis data loss, and the outbox backlog with its oldest row.",
  responses: { 200: jsonResponse(Fleet, "The fleet."), ...errorResponses(401) },
});
