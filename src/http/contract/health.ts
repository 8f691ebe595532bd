import { createRoute, z } from "@hono/zod-openapi";
import { errorResponses, jsonResponse, SECURITY, timestamp } from "./shared.ts";

const Dependency = z
  .union([z.object({ ok: z.literal(true), latencyMs: z.number() }), z.object({ ok: z.literal(false), error: z.string() })])
  .openapi("DependencyCheck", { description: "A failing dependency shows a code (`ECONNREFUSED`); its error text only with the admin token." });

const Part = z.object({ ok: z.boolean(), error: z.string().optional() }).catchall(z.unknown());

const Health = z
  .object({
    status: z.enum(["ok", "degraded", "down"]),
    checks: z.object({
      postgres: Dependency, redis: Dependency,
      relay: Part.extend({ running: z.boolean(), lastRunAt: timestamp().nullable(), backlog: z.int().nullable(), oldestUnpublishedAgeMs: z.number().nullable() }),
      consumers: Part.extend({ consumer: z.string().nullable(), expected: z.int(), started: z.int() }),
      dlq: Part.extend({ size: z.int().nullable(), threshold: z.int() }),
      recovery: Part.extend({ watching: z.boolean() }),
      schedules: Part.extend({
        items: z.array(z.object({
          name: z.string(), cron: z.string(), paused: z.boolean(),
          lastFiredAt: timestamp().nullable(), lastDueAt: timestamp().nullable(), nextFireAt: timestamp().nullable(),
        })),
        late: z.array(z.string()).optional(),
      }),
    }),
    version: z.string(),
    uptimeS: z.int(),
  })
  .openapi("Health");

const Ready = z
  .object({
    status: z.enum(["ok", "unavailable"]),
    checks: z.object({ postgres: Dependency, redis: Dependency, engine: z.object({ ok: z.boolean(), reason: z.string().optional() }) }),
  })
  .openapi("Readiness");

const Queues = z
  .object({
    totalQueues: z.int(), healthyQueues: z.int(), totalWaiting: z.int(), totalActive: z.int(), totalFailed: z.int(),
    queues: z.record(z.string(), z.object({ waiting: z.int(), active: z.int(), failed: z.int(), healthy: z.boolean() })),
  })
  .openapi("Queues");

const tags = ["Health"];
// Any request with a body over MAX_BODY_BYTES is refused before routing (bodyLimit in app.ts).
const { 413: tooLarge, 500: internal } = errorResponses(413);

export const liveRoute = createRoute({
  method: "get", path: "/live", tags, operationId: "getLiveness", security: [],
  summary: "Liveness", description: "200 while the process runs.",
  responses: { 200: jsonResponse(z.object({ status: z.literal("ok") }), "Alive."), 413: tooLarge, 500: internal },
});

export const readyRoute = createRoute({
  method: "get", path: "/ready", tags, operationId: "getReadiness", security: SECURITY.open,
  summary: "Readiness", description: "200 when PostgreSQL and Redis answer and the relay and consumers run.",
  responses: { 200: jsonResponse(Ready, "Ready."), 503: jsonResponse(Ready, "Not ready: the checks say why."), 413: tooLarge, 500: internal },
});

export const healthRoute = createRoute({
  method: "get", path: "/", tags, operationId: "getHealth", security: SECURITY.open,
  summary: "Health with every check",
  description: "`degraded` (200) past the dead-letter or outbox alerts, `down` (503) when PostgreSQL or Redis is unreachable. Cached for HEALTH_CACHE_MS.",
  responses: { 200: jsonResponse(Health, "`ok` or `degraded`."), 503: jsonResponse(Health, "`down`."), 413: tooLarge, 500: internal },
});

export const queuesRoute = createRoute({
  method: "get", path: "/queues", tags, operationId: "getQueues", security: SECURITY.open,
  summary: "Queues per event type", description: "Waiting, active and failed entries per event type, and whether each is healthy.",
  responses: { 200: jsonResponse(Queues, "The queues."), ...errorResponses(413) },
});
