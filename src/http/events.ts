import { Hono, type MiddlewareHandler } from "hono";
import { z } from "zod";
import { EVENT_TYPES, eventPayloadSchema, isEventType } from "../events/catalog.ts";
import { identifier, line, storableJson } from "../lib/validation.ts";
import type { AppDeps } from "./app.ts";
import { invalid } from "./errors.ts";
import { requireJson, validate } from "./validate.ts";
import { commitWithEvents, writeEvent } from "../engine/index.ts";

const envelope = z.strictObject({
  eventType: z.string().refine(isEventType, { message: `unknown event type; known: ${EVENT_TYPES.join(", ")}` }),
  payload: storableJson,
  aggregateId: line(255).optional(),
  tenantId: identifier().optional(),
  idempotencyKey: line(255).refine((k) => !k.startsWith("orderstream:"), "keys starting with orderstream: are reserved for the service's own events").optional(),
});

/**
 * POST /events (admin): another service publishes an event through the API. The payload must pass
 * its type's schema; it is stored as sent (fields the schema does not name are kept).
 */
export function eventRoutes(deps: AppDeps, admin: MiddlewareHandler): Hono {
  return new Hono().post("/", admin, requireJson, validate("json", envelope), async (c) => {
    const body = c.req.valid("json");
    const eventType = body.eventType as (typeof EVENT_TYPES)[number];
    const checked = eventPayloadSchema(eventType).safeParse(body.payload);
    if (!checked.success) throw invalid(checked.error.issues.map((i) => ({ path: ["payload", ...i.path.map(String)].join("."), message: i.message })));
    const written = await commitWithEvents(deps.db, deps.engine?.relay ?? undefined, (tx) =>
      writeEvent(tx, { eventType, payload: body.payload, aggregateId: body.aggregateId, tenantId: body.tenantId, idempotencyKey: body.idempotencyKey }),
    );
    return c.json({ id: written.id, eventType: written.eventType, duplicate: written.duplicate }, written.duplicate ? 200 : 202);
  });
}
