import type { AppDeps } from "./app.ts";
import {
  deleteDeadLetterRoute, deleteDeadLettersRoute, getDeadLetterRoute, listBlockedKeysRoute, listDeadLettersRoute, retryDeadLetterRoute,
  retryDeadLettersRoute,
} from "./contract/dlq.ts";
import { conflict, notFound } from "./errors.ts";
import { openApiRoutes } from "./validate.ts";
import { applyToDeadLetters, deleteDeadLetter, getDeadLetter, listBlockedKeys, listDeadLetters, retryDeadLetter } from "../engine/index.ts";

/**
 * The dead-letter API (admin; the guard is applied in app.ts). Reads PostgreSQL, the durable
 * record, so it answers the same after Redis lost its data.
 */
export function dlqRoutes(deps: AppDeps) {
  const dlq = { sql: deps.sql, redis: deps.redis, prefix: deps.config.STREAM_PREFIX, log: deps.log };
  return openApiRoutes()
    .openapi(listDeadLettersRoute, async (c) => c.json(await listDeadLetters(deps.sql, c.req.valid("query")), 200))
    .openapi(retryDeadLettersRoute, async (c) => {
      const { dryRun, ...query } = c.req.valid("json");
      const retried = await applyToDeadLetters(dlq, "retry", query, { dryRun });
      return dryRun ? c.json({ retried, dryRun: true as const }, 200) : c.json({ retried }, 202);
    })
    .openapi(deleteDeadLettersRoute, async (c) => {
      const { dryRun, ...query } = c.req.valid("json");
      const deleted = await applyToDeadLetters(dlq, "discard", query, { dryRun });
      return dryRun ? c.json({ deleted, dryRun: true as const }, 200) : c.json({ deleted }, 200);
    })
    // Before /dlq/{id}: "blocked-keys" is not a dead letter's id.
    .openapi(listBlockedKeysRoute, async (c) => c.json({ items: await listBlockedKeys(deps.sql, c.req.valid("query")) }, 200))
    .openapi(getDeadLetterRoute, async (c) => {
      const item = await getDeadLetter(deps.sql, c.req.valid("param").id);
      // A discarded letter is gone for one-by-one access; GET /dlq?status=discarded still lists it.
      if (!item || item.status === "discarded") throw notFound("dead letter");
      return c.json(item, 200);
    })
    .openapi(retryDeadLetterRoute, async (c) => {
      const { id } = c.req.valid("param");
      const result = await retryDeadLetter(dlq, id);
      if (result.outcome === "not_found" || (result.outcome === "not_open" && result.status === "discarded")) throw notFound("dead letter");
      if (result.outcome === "not_open") throw conflict(`dead letter ${id} is ${result.status}, not open`);
      if (result.outcome === "no_event") throw conflict(`dead letter ${id} cannot be retried: its stream entry carried no event id`);
      return c.json({ id, status: "retried" as const, entryId: result.entryId }, 202);
    })
    .openapi(deleteDeadLetterRoute, async (c) => {
      const { id } = c.req.valid("param");
      const result = await deleteDeadLetter(dlq, id);
      if (result === "not_found") throw notFound("dead letter");
      if (result === "not_open") throw conflict(`dead letter ${id} was retried; only an open dead letter can be deleted`);
      return c.body(null, 204);
    });
}
