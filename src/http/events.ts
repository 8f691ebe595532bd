import { Hono, type MiddlewareHandler } from "hono";
import { z } from "zod";
import { EVENT_TYPES, eventPayloadSchema, isEventType } from "../events/catalog.ts";
import { identifier, line, storableJson } from "../lib/validation.ts";
import type { AppDeps } from "./app.ts";
import { invalid } from "./errors.ts";
import { requireJson, validate } from "./validate.ts";
import { cancelEvent, commitWithEvents, MAX_PRIORITY, MIN_PRIORITY, writeEvent } from "../engine/index.ts";
import { traceAggregate, traceEvent } from "../console/reads/index.ts";
import { idParam } from "./products.ts";
import { conflict, notFound } from "./errors.ts";

/** The longest an event may be delayed: a month (it waits in the outbox, as durable as any other). */
export const MAX_DELAY_MS = 30 * 24 * 3_600_000;

const envelope = z
  .strictObject({
    eventType: z.string().refine(isEventType, { message: `unknown event type; known: ${EVENT_TYPES.join(", ")}` }),
    payload: storableJson,
    aggregateId: line(255).optional(),
    tenantId: identifier().optional(),
    idempotencyKey: line(255).refine((k) => !k.startsWith("orderstream:"), "keys starting with orderstream: are reserved for the service's own events").optional(),
    /** Publish no earlier than this (ISO 8601 with an offset); a past time publishes at once. */
    availableAt: z.iso.datetime({ offset: true }).optional(),
    /** Publish no earlier than this many milliseconds from now. */
    delayMs: z.number().int().min(0).max(MAX_DELAY_MS, `at most ${MAX_DELAY_MS} (30 days)`).optional(),
    priority: z.number().int().min(MIN_PRIORITY).max(MAX_PRIORITY).optional(),
  })
  .refine((b) => b.availableAt === undefined || b.delayMs === undefined, { path: ["delayMs"], message: "give availableAt or delayMs, not both" })
  .refine((b) => b.availableAt === undefined || !(Date.parse(b.availableAt) - Date.now() > MAX_DELAY_MS), { path: ["availableAt"], message: "at most 30 days from now" });

const lookupQuery = z.strictObject({ aggregateId: line(255), limit: z.coerce.number().int().min(1).max(100).default(20) });

/**
 * Events (admin):
 * - `POST /events`: another service publishes an event through the API. The payload must pass
 *   its type's schema; it is stored as sent (fields the schema does not name are kept).
 * - `GET /events/:id`: where the event is: in the outbox, published, and per handler processed,
 *   pending (attempts, next retry), waiting or dead-lettered.
 * - `GET /events?aggregateId=`: the same for an aggregate's newest events.
 * - `DELETE /events/:id`: cancels an event not yet published (a delayed one before it is due).
 */
export function eventRoutes(deps: AppDeps, admin: MiddlewareHandler): Hono {
  const trace = { sql: deps.sql, redis: deps.redis, prefix: deps.config.STREAM_PREFIX, claimIdleMs: deps.config.CLAIM_IDLE_MS };
  return new Hono()
    .get("/", admin, validate("query", lookupQuery), async (c) => {
      const { aggregateId, limit } = c.req.valid("query");
      return c.json({ items: await traceAggregate(trace, aggregateId, limit) });
    })
    .get("/:id", admin, validate("param", idParam), async (c) => {
      const found = await traceEvent(trace, c.req.valid("param").id);
      if (!found) throw notFound("event");
      return c.json(found);
    })
    .post("/", admin, requireJson, validate("json", envelope), async (c) => {
    const body = c.req.valid("json");
    const eventType = body.eventType as (typeof EVENT_TYPES)[number];
    const checked = eventPayloadSchema(eventType).safeParse(body.payload);
    if (!checked.success) throw invalid(checked.error.issues.map((i) => ({ path: ["payload", ...i.path.map(String)].join("."), message: i.message })));
    const availableAt = body.availableAt !== undefined ? new Date(body.availableAt) : body.delayMs !== undefined ? new Date(Date.now() + body.delayMs) : null;
    const written = await commitWithEvents(deps.db, deps.engine?.relay ?? undefined, (tx) =>
      writeEvent(tx, {
        eventType, payload: body.payload, aggregateId: body.aggregateId, tenantId: body.tenantId, idempotencyKey: body.idempotencyKey,
        availableAt, priority: body.priority,
      }),
    );
    return c.json({
      id: written.id, eventType: written.eventType, duplicate: written.duplicate,
      ...(availableAt ? { availableAt: availableAt.toISOString() } : {}),
    }, written.duplicate ? 200 : 202);
  })
    .delete("/:id", admin, validate("param", idParam), async (c) => {
      const { id } = c.req.valid("param");
      const result = await cancelEvent(deps.sql, id);
      if (result === "not_found") throw notFound("event");
      if (result === "published") throw conflict(`event ${id} was published already; it can no longer be cancelled`);
      return c.body(null, 204);
    });
}
