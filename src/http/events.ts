import type { MiddlewareHandler } from "hono";
import { eventPayloadSchema, type EVENT_TYPES } from "../events/catalog.ts";
import type { AppDeps } from "./app.ts";
import { conflict, invalid, notFound } from "./errors.ts";
import { cancelEvent, commitWithEvents, writeEvent } from "../engine/index.ts";
import { traceAggregate, traceEvent } from "../console/reads/index.ts";
import { cancelEventRoute, getEventRoute, listAggregateEventsRoute, publishEventRoute } from "./contract/events.ts";
import { openApiRoutes } from "./validate.ts";

/**
 * Events (admin):
 * - `POST /events`: another service publishes an event through the API. The payload must pass
 *   its type's schema; it is stored as sent (fields the schema does not name are kept).
 * - `GET /events/:id`: where the event is: in the outbox, published, and per handler processed,
 *   pending (attempts, next retry), waiting or dead-lettered.
 * - `GET /events?aggregateId=`: the same for an aggregate's newest events.
 * - `DELETE /events/:id`: cancels an event not yet published (a delayed one before it is due).
 */
export function eventRoutes(deps: AppDeps, admin: MiddlewareHandler) {
  const trace = { sql: deps.sql, redis: deps.redis, prefix: deps.config.STREAM_PREFIX, claimIdleMs: deps.config.CLAIM_IDLE_MS };
  return openApiRoutes()
    .openapi({ ...listAggregateEventsRoute, middleware: [admin] }, async (c) => {
      const { aggregateId, limit } = c.req.valid("query");
      return c.json({ items: await traceAggregate(trace, aggregateId, limit) }, 200);
    })
    .openapi({ ...getEventRoute, middleware: [admin] }, async (c) => {
      const found = await traceEvent(trace, c.req.valid("param").id);
      if (!found) throw notFound("event");
      return c.json(found, 200);
    })
    .openapi({ ...publishEventRoute, middleware: [admin, ...publishEventRoute.middleware] }, async (c) => {
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
      const answer = {
        id: written.id, eventType: written.eventType, duplicate: written.duplicate,
        ...(availableAt ? { availableAt: availableAt.toISOString() } : {}),
      };
      return written.duplicate ? c.json(answer, 200) : c.json(answer, 202);
    })
    .openapi({ ...cancelEventRoute, middleware: [admin] }, async (c) => {
      const { id } = c.req.valid("param");
      const result = await cancelEvent(deps.sql, id);
      if (result === "not_found") throw notFound("event");
      if (result === "published") throw conflict(`event ${id} was published already; it can no longer be cancelled`);
      return c.body(null, 204);
    });
}
