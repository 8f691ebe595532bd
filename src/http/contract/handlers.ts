import { createRoute, z } from "@hono/zod-openapi";
import { line } from "../../lib/validation.ts";
import { errorResponses, jsonResponse, schemaOnly, SECURITY, timestamp } from "./shared.ts";

export const HandlerNameParam = z.object({ name: line(200).openapi({ param: { name: "name", in: "path" }, example: "inventory" }) });
export const PauseBody = z.strictObject({ by: line(100).optional().openapi({ description: "Who paused it. Defaults to `api`." }) });
const ActivityQuery = z.strictObject({ minutes: z.coerce.number().int().min(1).max(120).default(60) });

const Pause = z.object({ since: timestamp(), by: z.string() });

const Handlers = z
  .object({
    handlers: z.array(z.object({
      name: z.string(),
      paused: Pause.nullable(),
      subscriptions: z.array(z.object({
        eventType: z.string(), waiting: z.int(), inFlight: z.int(), retrying: z.int(), deadLettered: z.int(), lagMs: z.number().nullable(),
        consumers: z.array(z.object({ name: z.string(), live: z.boolean(), inFlight: z.int(), lastSeenAt: timestamp() })),
      })),
    })),
  })
  .openapi("Handlers");

const ActivityPoint = z.object({ at: z.number(), processed: z.int(), failed: z.int(), p50Ms: z.number().nullable(), p99Ms: z.number().nullable() });
const Activity = z
  .object({ from: z.number(), to: z.number(), bucketMs: z.int(), handlers: z.record(z.string(), z.array(ActivityPoint)) })
  .openapi("HandlerActivity");

const tags = ["Handlers"];

export const listHandlersRoute = createRoute({
  method: "get", path: "/", tags, operationId: "listHandlers", security: SECURITY.admin,
  summary: "Handlers and their queues",
  description: "Each handler with, per event type, what waits, is in flight, retries or was dead-lettered, its lag, its consumers and whether it is paused.",
  responses: { 200: jsonResponse(Handlers, "Every handler of the fleet."), ...errorResponses(401) },
});

export const handlerActivityRoute = createRoute({
  method: "get", path: "/activity", tags, operationId: "getHandlerActivity", security: SECURITY.admin,
  summary: "Processed, failed and latency per minute",
  description: "Per handler, one point per minute (epoch ms), oldest first.",
  request: { query: ActivityQuery },
  responses: { 200: jsonResponse(Activity, "The activity."), ...errorResponses(400, 401) },
});

export const pauseHandlerRoute = createRoute({
  method: "post", path: "/{name}/pause", tags, operationId: "pauseHandler", security: SECURITY.admin,
  summary: "Pause a handler on every machine",
  description: "Pausing twice keeps the first `since`. The body is optional.",
  request: {
    params: HandlerNameParam,
    body: { required: false, content: { "application/json": { schema: schemaOnly(PauseBody), example: { by: "alice" } } } },
  },
  responses: {
    200: jsonResponse(z.object({ handler: z.string(), paused: z.literal(true), since: timestamp(), by: z.string() }), "Paused."),
    ...errorResponses(400, 401, 404, 413),
  },
});

export const resumeHandlerRoute = createRoute({
  method: "post", path: "/{name}/resume", tags, operationId: "resumeHandler", security: SECURITY.admin,
  summary: "Resume a handler on every machine",
  description: "`wasPaused: false` for a handler that was running.",
  request: { params: HandlerNameParam },
  responses: {
    200: jsonResponse(z.object({ handler: z.string(), paused: z.literal(false), wasPaused: z.boolean() }), "Running."),
    ...errorResponses(400, 401, 404),
  },
});
