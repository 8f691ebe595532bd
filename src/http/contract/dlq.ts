import { createRoute, z } from "@hono/zod-openapi";
import { decodeCursor, PAYLOAD_PATH, type SearchField } from "../../engine/index.ts";
import { line } from "../../lib/validation.ts";
import { requireJson } from "../validate.ts";
import { anyJson, errorResponse, errorResponses, IdParam, jsonBody, jsonResponse, SECURITY, timestamp } from "./shared.ts";

// PostgreSQL refuses NUL in a text parameter: a filter must be a 400, never a failed query.
const name = () => line(200);

const FIELDS = ["any", "eventId", "aggregateId", "tenantId", "error", "payload"] as const;
/** Where `q` is looked for: a column, the payload's text, or one payload field (`payload.customer.email`). */
const field = z
  .string()
  .refine((f) => (FIELDS as readonly string[]).includes(f) || PAYLOAD_PATH.test(f), `one of ${FIELDS.join(", ")}, or payload.<field>[.<field>...] (letters, digits, _ and -)`)
  .transform((f) => f as SearchField)
  .openapi({ description: `One of ${FIELDS.join(", ")}, or a payload field \`payload.<field>[.<field>...]\` (array indexes too). Needs \`q\`.`, example: "payload.customerEmail" });

const STATUSES = ["open", "retried", "discarded", "resolved"] as const;

/** The search over the durable record: filters beyond event type and handler, and a text to find. */
const search = {
  reason: name().optional().openapi({ description: "`max_attempts`, `schema_invalid`, `unrecoverable`, `malformed_entry`, `unknown_event_type` or `unpublishable`." }),
  q: line(500).optional().openapi({ description: "The text to find: exact for ids and tenants, contained (case-insensitive) for error and payload text." }),
  field: field.optional(),
};
const needsQ = (v: { q?: string; field?: string }) => v.field === undefined || v.q !== undefined;
const needsQIssue = { message: "q is required with field", path: ["q"] };
const eventIdNeedsUuid = (v: { q?: string; field?: string }) => v.field !== "eventId" || v.q === undefined || z.uuid().safeParse(v.q).success;
const eventIdIssue = { message: "an event id is a UUID", path: ["q"] };

const ListQuery = z
  .strictObject({
    eventType: name().optional(),
    handler: name().optional(),
    ...search,
    status: z.enum([...STATUSES, "any"]).optional().openapi({ description: "Defaults to `open`." }),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z
      .string()
      .transform((text, ctx) => decodeCursor(text) ?? (ctx.addIssue({ code: "custom", message: "not a cursor from an earlier page" }), z.NEVER))
      .optional()
      .openapi({ description: "The `nextCursor` of the previous page." }),
  })
  .refine(needsQ, needsQIssue)
  .refine(eventIdNeedsUuid, eventIdIssue);

export const BulkAction = z
  .strictObject({
    eventType: name().optional(),
    handler: name().optional(),
    ...search,
    ids: z.array(z.uuid()).min(1).max(1_000).optional(),
    dryRun: z.boolean().default(false).openapi({ description: "Count what would be touched, and touch nothing." }),
  })
  .refine(needsQ, needsQIssue)
  .refine(eventIdNeedsUuid, eventIdIssue)
  .openapi("DeadLetterSelection", { example: { eventType: "order.created", handler: "inventory", dryRun: true } });

const DeadLetter = z
  .object({
    id: z.uuid(), eventId: z.uuid().nullable(), eventType: z.string(), handler: z.string(), reason: z.string(), error: z.string(),
    attempts: z.int(), failedAt: timestamp(), payload: anyJson(), aggregateId: z.string().nullable(), tenantId: z.string().nullable(),
    status: z.enum(STATUSES),
  })
  .openapi("DeadLetter");

const DeadLetterDetail = DeadLetter.extend({
  stream: z.string(), entryId: z.string(), occurredAt: timestamp().nullable(), resolvedAt: timestamp().nullable(),
}).openapi("DeadLetterDetail");

const tags = ["Dead letters"];

export const listDeadLettersRoute = createRoute({
  method: "get", path: "/", tags, operationId: "listDeadLetters", security: SECURITY.admin,
  summary: "List and search dead letters",
  description: "Newest first, paged with the opaque `nextCursor`; open ones unless `status` says otherwise.",
  request: { query: ListQuery },
  responses: {
    200: jsonResponse(z.object({ items: z.array(DeadLetter), nextCursor: z.string().nullable() }), "A page of dead letters."),
    ...errorResponses(400, 401),
  },
});

const bulk = {
  method: "post" as const, tags, security: SECURITY.admin,
  description: "Acts on open dead letters only, at most 10,000 per call; `{}` selects every open one.",
  middleware: [requireJson],
  request: { body: jsonBody(BulkAction) },
};

export const retryDeadLettersRoute = createRoute({
  ...bulk, path: "/retry", operationId: "retryDeadLetters", security: SECURITY.admin, summary: "Retry the matching dead letters",
  responses: {
    200: jsonResponse(z.object({ retried: z.int(), dryRun: z.literal(true) }), "The dry run: how many would be retried."),
    202: jsonResponse(z.object({ retried: z.int() }), "Re-driven, each to its handler only."),
    ...errorResponses(400, 401, 413),
  },
});

export const deleteDeadLettersRoute = createRoute({
  ...bulk, path: "/delete", operationId: "deleteDeadLetters", security: SECURITY.admin, summary: "Delete the matching dead letters",
  responses: {
    200: jsonResponse(z.object({ deleted: z.int(), dryRun: z.literal(true).optional() }), "How many were (or, with dryRun, would be) deleted."),
    ...errorResponses(400, 401, 413),
  },
});

export const getDeadLetterRoute = createRoute({
  method: "get", path: "/{id}", tags, operationId: "getDeadLetter", security: SECURITY.admin,
  summary: "Read a dead letter", description: "A deleted one is a 404 (listed with `status=discarded`).",
  request: { params: IdParam },
  responses: { 200: jsonResponse(DeadLetterDetail, "The dead letter."), ...errorResponses(400, 401, 404) },
});

export const retryDeadLetterRoute = createRoute({
  method: "post", path: "/{id}/retry", tags, operationId: "retryDeadLetter", security: SECURITY.admin,
  summary: "Retry a dead letter", description: "Re-publishes the event for that handler only.",
  request: { params: IdParam },
  responses: {
    202: jsonResponse(z.object({ id: z.uuid(), status: z.literal("retried"), entryId: z.string().nullable() }), "Re-driven."),
    ...errorResponses(400, 401, 404),
    409: errorResponse(409, "It is no longer open, or its entry carried no event id (`conflict`)."),
  },
});

export const deleteDeadLetterRoute = createRoute({
  method: "delete", path: "/{id}", tags, operationId: "deleteDeadLetter", security: SECURITY.admin,
  summary: "Delete a dead letter", description: "Settles the event for that handler (`discarded`): a re-published copy never runs.",
  request: { params: IdParam },
  responses: {
    204: { description: "Deleted." },
    ...errorResponses(400, 401, 404),
    409: errorResponse(409, "It was retried; only an open dead letter can be deleted (`conflict`)."),
  },
});

const BlockedKey = z
  .object({
    handler: z.string(), eventType: z.string(), key: z.string().openapi({ description: "The partition key (an aggregate id by default)." }),
    state: z.enum(["parked", "releasing"]).openapi({ description: "`parked`: its dead letter is open. `releasing`: the letter was retried or deleted and the waiting events run, in order." }),
    parkedAt: timestamp(),
    waiting: z.int().openapi({ description: "Events of the key waiting behind it." }),
    deadLetter: z
      .object({ id: z.uuid(), eventId: z.uuid(), reason: z.string(), error: z.string(), failedAt: timestamp(), status: z.string() })
      .openapi({ description: "The key's first failing event: retry or delete this dead letter to release the key." }),
  })
  .openapi("BlockedKey");

export const listBlockedKeysRoute = createRoute({
  method: "get", path: "/blocked-keys", tags, operationId: "listBlockedKeys", security: SECURITY.admin,
  summary: "List the parked keys of ordered handlers",
  description: "Oldest parked first. A key of an ordered handler whose event was dead-lettered holds its later events until that dead letter is retried or deleted; other keys go on.",
  request: {
    query: z.strictObject({
      handler: name().optional(),
      eventType: name().optional(),
      limit: z.coerce.number().int().min(1).max(1_000).default(100),
    }),
  },
  responses: {
    200: jsonResponse(z.object({ items: z.array(BlockedKey) }), "The parked keys."),
    ...errorResponses(400, 401),
  },
});
