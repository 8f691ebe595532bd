import { Hono } from "hono";
import { z } from "zod";
import { line } from "../lib/validation.ts";
import type { AppDeps } from "./app.ts";
import { conflict, notFound } from "./errors.ts";
import { idParam } from "./products.ts";
import { requireJson, validate } from "./validate.ts";
import { deleteDeadLetter, decodeCursor, getDeadLetter, listDeadLetters, countRetryable, retryDeadLetter, retryDeadLetters } from "../engine/index.ts";

// PostgreSQL refuses NUL in a text parameter: a filter must be a 400, never a failed query.
const name = line(200);

const listQuery = z.strictObject({
  status: z.enum(["open", "retried", "discarded", "resolved"]).default("open"),
  eventType: name.optional(),
  handler: name.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z
    .string()
    .transform((text, ctx) => decodeCursor(text) ?? (ctx.addIssue({ code: "custom", message: "not a cursor from an earlier page" }), z.NEVER))
    .optional(),
});

const bulkRetry = z.strictObject({
  eventType: name.optional(),
  handler: name.optional(),
  ids: z.array(z.uuid()).min(1).max(1_000).optional(),
  dryRun: z.boolean().default(false),
});

/**
 * The dead-letter API (admin; the guard is applied in app.ts). Reads PostgreSQL, the durable
 * record, so it answers the same after Redis lost its data.
 */
export function dlqRoutes(deps: AppDeps): Hono {
  const dlq = { sql: deps.sql, redis: deps.redis, prefix: deps.config.STREAM_PREFIX, log: deps.log };
  return new Hono()
    .get("/", validate("query", listQuery), async (c) => c.json(await listDeadLetters(deps.sql, c.req.valid("query"))))
    .post("/retry", requireJson, validate("json", bulkRetry), async (c) => {
      const { dryRun, ...filter } = c.req.valid("json");
      if (dryRun) return c.json({ retried: await countRetryable(deps.sql, filter), dryRun: true });
      return c.json({ retried: await retryDeadLetters(dlq, filter) }, 202);
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
