import { z } from "@hono/zod-openapi";
import { ERROR_CODES } from "../errors.ts";

// What every operation of the document shares: the one error body, its responses by status, the
// security requirements and the common parameters. The route files compose these.

/** The one error body of the API (src/http/errors.ts, errorResponse). */
export const ErrorBody = z
  .object({
    error: z.object({
      code: z.enum(ERROR_CODES).openapi({ description: "What went wrong, stable for programs to switch on." }),
      message: z.string().openapi({ description: "For people; never a stack trace or a secret." }),
      details: z
        .array(z.object({ path: z.string().openapi({ example: "items.0.quantity" }), message: z.string() }))
        .optional()
        .openapi({ description: "Each field refused: its path (`items.0.quantity`, `(body)`, `(query)`, `Idempotency-Key`) and why." }),
      requestId: z.string().openapi({ description: "The X-Request-Id of the request.", example: "5f0c1e2a-3b4d-4c5e-8f60-718293a4b5c6" }),
    }),
  })
  .openapi("Error", {
    example: {
      error: {
        code: "validation_failed", message: "the request is invalid",
        details: [{ path: "items.0.quantity", message: "Too small: expected number to be >=1" }],
        requestId: "5f0c1e2a-3b4d-4c5e-8f60-718293a4b5c6",
      },
    },
  });

const WHY: Record<number, string> = {
  400: "A field, parameter or header is missing, wrong or unknown; malformed JSON; a body that is not JSON (`validation_failed`).",
  401: "Credentials missing, wrong or revoked (`unauthorized`, with `WWW-Authenticate: Bearer`).",
  403: "The body names a tenant the API key does not act for (`forbidden`, naming the field).",
  404: "Unknown id, or one of another tenant (`not_found`).",
  409: "The current state does not allow it (`conflict`).",
  413: "The body is larger than MAX_BODY_BYTES (`payload_too_large`).",
  500: "An unexpected failure (`internal`); the details go to the log, never to the client.",
  503: "PostgreSQL or Redis is unreachable (`unavailable`); retry shortly.",
};

/** Every answer carries it (the one given in the request, or a new one): quote it when reporting a problem. */
const responseHeaders = {
  "X-Request-Id": {
    description: "The request's id: the caller's own `X-Request-Id` when it sent a valid one, else a new UUID. It is the `requestId` of an error body and of the log line of a request that failed.",
    schema: { type: "string" as const, example: "5f0c1e2a-3b4d-4c5e-8f60-718293a4b5c6" },
  },
};

/** What a 401 carries besides (RFC 9110 §11.6.1): how to authenticate. */
const challengeHeaders = {
  ...responseHeaders,
  "WWW-Authenticate": {
    description: "The scheme to authenticate with: a bearer token (an API key; ADMIN_TOKEN or METRICS_TOKEN where the operation says so).",
    schema: { type: "string" as const, example: 'Bearer realm="orderstream"' },
  },
};

/**
 * An error response with the shared body, described by `why` (or the usual reason for `status`);
 * with `challenge` (a bearer-token 401: the default for a 401 with the usual reason), its header.
 */
export const errorResponse = (status: number, why?: string, { challenge = status === 401 && why === undefined } = {}) => ({
  description: why ?? WHY[status] ?? "An error.",
  headers: challenge ? challengeHeaders : responseHeaders,
  content: { "application/json": { schema: ErrorBody } },
});

/** The error responses of `statuses`, plus the 500 and 503 any operation can answer. */
export function errorResponses<const S extends readonly number[]>(...statuses: S) {
  const out: Record<number, ReturnType<typeof errorResponse>> = {};
  for (const s of [...statuses, 500, 503]) out[s] = errorResponse(s);
  return out as { [K in S[number] | 500 | 503]: ReturnType<typeof errorResponse> };
}

/** A JSON response whose body is `schema`. */
export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  headers: responseHeaders,
  content: { "application/json": { schema } },
});

/** A required JSON request body. */
export const jsonBody = <T extends z.ZodType>(schema: T, description?: string) => ({
  required: true,
  ...(description ? { description } : {}),
  content: { "application/json": { schema } },
});

/** Security requirements, named after the schemes of the document (src/http/openapi.ts). */
export const SECURITY = {
  /** ADMIN_TOKEN. */
  admin: [{ adminToken: [] }] as Record<string, string[]>[],
  /** A tenant's API key, or ADMIN_TOKEN acting for any tenant. */
  tenant: [{ apiKey: [] }, { adminToken: [] }] as Record<string, string[]>[],
  /** Open; ADMIN_TOKEN adds error texts. */
  open: [{}, { adminToken: [] }] as Record<string, string[]>[],
};

/** An id in a path: a UUID. */
export const IdParam = z.object({
  id: z.uuid().openapi({ param: { name: "id", in: "path" }, example: "0b9a7f3e-5c1d-4e2f-9a8b-7c6d5e4f3a21" }),
});

/** An ISO 8601 timestamp in UTC, as the API writes them. */
export const timestamp = () => z.string().openapi({ format: "date-time", example: "2026-12-03T10:30:00.000Z" });

/** A JSON value of any type. */
export const anyJson = () => z.unknown().openapi({ description: "Any JSON value." });

/**
 * The JSON Schema of `schema`, for a body the handler reads itself (a signature is checked on the
 * raw bytes first, or the body is optional): the document shows it, and no validator runs before
 * the handler.
 */
export function schemaOnly(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _, ...json } = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
  return json;
}

/**
 * A schema made elsewhere (src/lib, src/events), ready for `.openapi()`. A zod schema created
 * before @hono/zod-openapi extended zod lacks that method; a clone, with the same checks, has it.
 */
export const reuse = <T extends z.ZodType>(schema: T): T => schema.clone() as T;
