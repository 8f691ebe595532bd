import { Hono } from "hono";
import { z } from "zod";
import { line } from "../lib/validation.ts";
import type { AppDeps } from "./app.ts";
import { conflict, notFound } from "./errors.ts";
import { idParam } from "./products.ts";
import { requireJson, validate } from "./validate.ts";
import {
  applyToDeadLetters, decodeCursor, deleteDeadLetter, getDeadLetter, listDeadLetters, PAYLOAD_PATH, retryDeadLetter, type SearchField,
} from "../engine/index.ts";

// PostgreSQL refuses NUL in a text parameter: a filter must be a 400, never a failed query.
const name = line(200);

const FIELDS = ["any", "eventId", "aggregateId", "tenantId", "error", "payload"] as const;
/** Where `q` is looked for: a column, the payload's text, or one payload field (`payload.customer.email`). */
const field = z
  .string()
  .refine((f) => (FIELDS as readonly string[]).includes(f) || PAYLOAD_PATH.test(f), `one of ${FIELDS.join(", ")}, or payload.<field>[.<field>...] (letters, digits, _ and -)`)
  .transform((f) => f as SearchField);

/** The search over the durable record: filters beyond event type and handler, and a text to find. */
const search = {
  reason: name.optional(),
  q: line(500).optional(),
  field: field.optional(),
};
const needsQ = (v: { q?: string; field?: string }) => v.field === undefined || v.q !== undefined;
const needsQIssue = { message: "q is required with field", path: ["q"] };
const eventIdNeedsUuid = (v: { q?: string; field?: string }) => v.field !== "eventId" || v.q === undefined || z.uuid().safeParse(v.q).success;
const eventIdIssue = { message: "an event id is a UUID", path: ["q"] };

const listQuery = z
  .strictObject({
    eventType: name.optional(),
    handler: name.optional(),
    ...search,
    status: z.enum(["open", "retried", "discarded", "resolved", "any"]).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z
      .string()
      .transform((text, ctx) => decodeCursor(text) ?? (ctx.addIssue({ code: "custom", message: "not a cursor from an earlier page" }), z.NEVER))
      .optional(),
  })
  .refine(needsQ, needsQIssue)
  .refine(eventIdNeedsUuid, eventIdIssue);

const bulkBody = z
  .strictObject({
    eventType: name.optional(),
    handler: name.optional(),
    ...search,
    ids: z.array(z.uuid()).min(1).max(1_000).optional(),
    dryRun: z.boolean().default(false),
  })
  .refine(needsQ, needsQIssue)
  .refine(eventIdNeedsUuid, eventIdIssue);

/**
 * The dead-letter API (admin; the guard is applied in app.ts). Reads PostgreSQL, the durable
 * record, so it answers the same after Redis lost its data.
 */
export function dlqRoutes(deps: AppDeps): Hono {
  const dlq = { sql: deps.sql, redis: deps.redis, prefix: deps.config.STREAM_PREFIX, log: deps.log };
  return new Hono()
    .get("/", validate("query", listQuery), async (c) => c.json(await listDeadLetters(deps.sql, c.req.valid("query"))))
    .post("/retry", requireJson, validate("json", bulkBody), async (c) => {
      const { dryRun, ...query } = c.req.valid("json");
      const retried = await applyToDeadLetters(dlq, "retry", query, { dryRun });
      return dryRun ? c.json({ retried, dryRun: true }) : c.json({ retried }, 202);
    })
    .post("/delete", requireJson, validate("json", bulkBody), async (c) => {
      const { dryRun, ...query } = c.req.valid("json");
      const deleted = await applyToDeadLetters(dlq, "discard", query, { dryRun });
      return dryRun ? c.json({ deleted, dryRun: true }) : c.json({ deleted });
    })
    .get("/:id", validate("param", idParam), async (c) => {
      const item = await getDeadLetter(deps.sql, c.req.valid("param").id);
      // A discarded letter is gone for one-by-one access; GET /dlq?status=discarded still lists it.
      if (!item || item.status === "discarded") throw notFound("dead letter");
      return c.json(item);
    })
    .post("/:id/retry", validate("param", idParam), async (c) => {
      const { id } = c.req.valid("param");
      const result = await retryDeadLetter(dlq, id);
      if (result.outcome === "not_found" || (result.outcome === "not_open" && result.status === "discarded")) throw notFound("dead letter");
      if (result.outcome === "not_open") throw conflict(`dead letter ${id} is ${result.status}, not open`);
      if (result.outcome === "no_event") throw conflict(`dead letter ${id} cannot be retried: its stream entry carried no event id`);
      return c.json({ id, status: "retried", entryId: result.entryId }, 202);
    })
    .delete("/:id", validate("param", idParam), async (c) => {
      const { id } = c.req.valid("param");
      const result = await deleteDeadLetter(dlq, id);
      if (result === "not_found") throw notFound("dead letter");
      if (result === "not_open") throw conflict(`dead letter ${id} was retried; only an open dead letter can be deleted`);
      return c.body(null, 204);
    });
}
