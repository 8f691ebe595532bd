import { createRoute, z } from "@hono/zod-openapi";
import { CATCH_UPS } from "../../engine/index.ts";
import { line } from "../../lib/validation.ts";
import { requireJson } from "../validate.ts";
import { eventPayload, eventTypeName } from "./events.ts";
import { anyJson, errorResponses, jsonBody, jsonResponse, SECURITY, timestamp } from "./shared.ts";

export const NameParam = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/, "1 to 100 letters, digits, and . _ : -").openapi({ param: { name: "name", in: "path" }, example: "exchange-rates" }),
});

export const ScheduleDefinition = z
  .strictObject({
    cron: line(200).openapi({ description: "A croner pattern with seconds: `0 0 3 * * *` is daily at 3 AM." }),
    timezone: line(100).optional().openapi({ description: "An IANA time zone. Defaults to UTC." }),
    eventType: eventTypeName(),
    payload: eventPayload(),
    catchUp: z.enum(CATCH_UPS as ["all", "latest", "none"]).optional().openapi({ description: "What to fire for due times missed while no machine ran. Defaults to `latest`." }),
  })
  .openapi("ScheduleDefinition", {
    example: { cron: "0 */15 * * * *", timezone: "UTC", eventType: "tenant.created", payload: { tenantId: "acme", name: "Acme", slug: "acme" }, catchUp: "latest" },
  });

export const Schedule = z
  .object({
    name: z.string(), cron: z.string(), timezone: z.string(), eventType: z.string(), payload: anyJson(),
    catchUp: z.enum(["all", "latest", "none"]), paused: z.boolean(), source: z.enum(["code", "api"]),
    nextFireAt: timestamp().nullable(), lastFiredAt: timestamp().nullable(), lastDueAt: timestamp().nullable(),
  })
  .openapi("Schedule");

const tags = ["Schedules"];

export const listSchedulesRoute = createRoute({
  method: "get", path: "/", tags, operationId: "listSchedules", security: SECURITY.admin,
  summary: "List schedules", description: "Every schedule, declared in code or through the API, with its state.",
  responses: { 200: jsonResponse(z.object({ items: z.array(Schedule) }), "The schedules."), ...errorResponses(401) },
});

export const getScheduleRoute = createRoute({
  method: "get", path: "/{name}", tags, operationId: "getSchedule", security: SECURITY.admin,
  summary: "Read a schedule", description: "One schedule with its last and next firing.",
  request: { params: NameParam },
  responses: { 200: jsonResponse(Schedule, "The schedule."), ...errorResponses(400, 401, 404) },
});

export const putScheduleRoute = createRoute({
  method: "put", path: "/{name}", tags, operationId: "putSchedule", security: SECURITY.admin,
  summary: "Create or replace a schedule",
  description: "The payload is checked against the event type's schema; an invalid cron or time zone is a 400 naming the field.",
  middleware: [requireJson] as const,
  request: { params: NameParam, body: jsonBody(ScheduleDefinition) },
  responses: {
    200: jsonResponse(Schedule, "It replaced a schedule of that name."),
    201: jsonResponse(Schedule, "Created."),
    ...errorResponses(400, 401, 413),
  },
});

export const deleteScheduleRoute = createRoute({
  method: "delete", path: "/{name}", tags, operationId: "deleteSchedule", security: SECURITY.admin,
  summary: "Delete a schedule", description: "It fires no more.",
  request: { params: NameParam },
  responses: { 204: { description: "Deleted." }, ...errorResponses(400, 401, 404) },
});

const pauseRoute = (action: "pause" | "resume") => createRoute({
  method: "post", path: `/{name}/${action}`, tags, operationId: `${action}Schedule`, security: SECURITY.admin,
  summary: action === "pause" ? "Pause a schedule" : "Resume a schedule",
  description: action === "pause" ? "It fires nothing until resumed." : "It starts again at its next due time.",
  request: { params: NameParam },
  responses: { 200: jsonResponse(Schedule, "The schedule."), ...errorResponses(400, 401, 404) },
});

export const pauseScheduleRoute = pauseRoute("pause");
export const resumeScheduleRoute = pauseRoute("resume");
