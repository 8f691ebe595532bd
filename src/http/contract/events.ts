import { createRoute, z } from "@hono/zod-openapi";
import { MAX_PRIORITY, MIN_PRIORITY } from "../../engine/index.ts";
import { EVENT_TYPES, isEventType } from "../../events/catalog.ts";
import { identifier, line, storableJson } from "../../lib/validation.ts";
import { requireJson } from "../validate.ts";
import { anyJson, errorResponse, errorResponses, IdParam, jsonBody, jsonResponse, reuse, SECURITY, timestamp } from "./shared.ts";

/** The longest an event may be delayed: a month (it waits in the outbox, as durable as any other). */
export const MAX_DELAY_MS = 30 * 24 * 3_600_000;

/** A known event type; the message lists them. Documented as their enum. */
export const eventTypeName = () =>
  z.string().refine(isEventType, { message: `unknown event type; known: ${EVENT_TYPES.join(", ")}` }).openapi({ enum: EVENT_TYPES, example: "user.created" });

/** A payload, checked against its type's schema by the handler (src/events/catalog.ts). */
export const eventPayload = () =>
  reuse(storableJson).openapi({ type: "object", description: "The type's payload (src/events/catalog.ts); fields its schema does not name are kept." });

export const NewEvent = z
  .strictObject({
    eventType: eventTypeName(),
    payload: eventPayload(),
    aggregateId: line(255).optional(),
    tenantId: identifier().optional(),
    idempotencyKey: line(255)
      .refine((k) => !k.startsWith("orderstream:"), "keys starting with orderstream: are reserved for the service's own events")
      .optional()
      .openapi({ description: "The same key again is a 200 duplicate that writes nothing." }),
    availableAt: z.iso.datetime({ offset: true }).optional().openapi({ description: "Publish no earlier than this (at most 30 days ahead); a past time publishes at once." }),
    delayMs: z.number().int().min(0).max(MAX_DELAY_MS, `at most ${MAX_DELAY_MS} (30 days)`).optional().openapi({ description: "Publish no earlier than this many ms from now; not with availableAt." }),
    priority: z.number().int().min(MIN_PRIORITY).max(MAX_PRIORITY).optional().openapi({ description: "Overrides the type's priority." }),
  })
  .refine((b) => b.availableAt === undefined || b.delayMs === undefined, { path: ["delayMs"], message: "give availableAt or delayMs, not both" })
  .refine((b) => b.availableAt === undefined || !(Date.parse(b.availableAt) - Date.now() > MAX_DELAY_MS), { path: ["availableAt"], message: "at most 30 days from now" })
  .openapi("NewEvent", {
    example: { eventType: "user.created", tenantId: "tenant-123", idempotencyKey: "crm:u1", payload: { userId: "u1", email: "ada@example.com", role: "buyer" } },
  });

const EventAccepted = z.object({
  id: z.uuid(), eventType: z.string(), duplicate: z.boolean(),
  availableAt: timestamp().optional().openapi({ description: "When it becomes due, for a delayed event." }),
});

const HandlerTrace = z.object({
  handler: z.string(),
  stage: z.enum(["processed", "discarded", "dead_lettered", "retrying", "in_flight", "waiting", "redriven", "unpublished", "unknown"]),
  at: timestamp().nullable(),
  attempts: z.int().nullable(),
  nextRetryAt: timestamp().nullable(),
  consumer: z.string().nullable(),
  deadLetterId: z.uuid().nullable(),
  error: z.string().nullable(),
});

export const EventTrace = z
  .object({
    id: z.uuid(), eventType: z.string(), aggregateId: z.string().nullable(), tenantId: z.string().nullable(),
    inOutbox: z.boolean(), createdAt: timestamp().nullable(), publishedAt: timestamp().nullable(), entryId: z.string().nullable(),
    payload: anyJson(),
    handlers: z.array(HandlerTrace),
  })
  .openapi("EventTrace");

const LookupQuery = z.strictObject({
  aggregateId: line(255).openapi({ example: "0b9a7f3e-5c1d-4e2f-9a8b-7c6d5e4f3a21" }),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

const tags = ["Events"];

export const listAggregateEventsRoute = createRoute({
  method: "get", path: "/", tags, operationId: "listAggregateEvents", security: SECURITY.admin,
  summary: "Where an aggregate's events are",
  description: "An aggregate's newest events, each traced like `GET /events/{id}`.",
  request: { query: LookupQuery },
  responses: { 200: jsonResponse(z.object({ items: z.array(EventTrace) }), "The events, newest first."), ...errorResponses(400, 401) },
});

export const getEventRoute = createRoute({
  method: "get", path: "/{id}", tags, operationId: "getEvent", security: SECURITY.admin,
  summary: "Where one event is",
  description: "In the outbox, published, and per handler its stage.",
  request: { params: IdParam },
  responses: { 200: jsonResponse(EventTrace, "The event."), ...errorResponses(400, 401, 404) },
});

export const publishEventRoute = createRoute({
  method: "post", path: "/", tags, operationId: "publishEvent", security: SECURITY.admin,
  summary: "Publish an event from another service",
  description: "Checked against its type's schema and written to the outbox; may be delayed (`availableAt`, `delayMs`) and carry its own `priority`.",
  middleware: [requireJson] as const,
  request: { body: jsonBody(NewEvent) },
  responses: {
    200: jsonResponse(EventAccepted, "The same idempotency key again: `duplicate: true`, nothing written."),
    202: jsonResponse(EventAccepted, "Written to the outbox."),
    ...errorResponses(400, 401, 413),
  },
});

export const cancelEventRoute = createRoute({
  method: "delete", path: "/{id}", tags, operationId: "cancelEvent", security: SECURITY.admin,
  summary: "Cancel an event not yet published",
  description: "A delayed event before it is due, or any event the relay has not published yet.",
  request: { params: IdParam },
  responses: {
    204: { description: "Cancelled." },
    ...errorResponses(400, 401, 404),
    409: errorResponse(409, "It was published already (`conflict`)."),
  },
});
