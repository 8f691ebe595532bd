import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ConflictError, DomainError, ForbiddenError, InvalidInputError, NotFoundError, type FieldProblem } from "../lib/domain-errors.ts";
import type { Logger } from "../lib/logger.ts";
import { toError, isUnavailableError } from "../engine/index.ts";

export { issuesToDetails } from "../lib/validation.ts";

/** Every error code the API answers with (the document's `Error.code` enum is this list). */
export const ERROR_CODES = [
  "validation_failed", "unauthorized", "invalid_signature", "forbidden", "not_found", "conflict",
  "idempotency_key_reused", "price_changed", "payload_too_large", "unavailable", "internal",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export type ErrorDetail = FieldProblem;

/** An error the API answers with as is: `{"error": {code, message, details?, requestId}}`. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetail[],
  ) {
    super(message);
  }
}

export const notFound = (what: string) => new ApiError(404, "not_found", `${what} not found`);
export const conflict = (message: string) => new ApiError(409, "conflict", message);
export const invalid = (details: ErrorDetail[], message = "the request is invalid") => new ApiError(400, "validation_failed", message, details);

/** A body that is not JSON (by its Content-Type): the one refusal every route with a body gives. */
export const notJsonBody = () =>
  invalid([{ path: "(body)", message: "expected a JSON body with Content-Type: application/json" }], "the request body must be JSON");
export const forbidden = (message: string, details?: ErrorDetail[]) => new ApiError(403, "forbidden", message, details);

/** The one place where a domain error becomes a status and an error code. */
export function fromDomainError(err: DomainError): ApiError {
  if (err instanceof NotFoundError) return new ApiError(404, "not_found", err.message);
  if (err instanceof ConflictError) return new ApiError(409, err.reason, err.message, err.details);
  if (err instanceof InvalidInputError) return new ApiError(400, "validation_failed", err.message, err.details);
  if (err instanceof ForbiddenError) return new ApiError(403, "forbidden", err.message, err.details);
  return new ApiError(500, "internal", "internal error");
}

/** The one error body of the API. */
export function errorResponse(c: Context, err: ApiError): Response {
  const body = {
    error: {
      code: err.code,
      message: err.message,
      ...(err.details?.length ? { details: err.details } : {}),
      requestId: c.get("requestId") as string | undefined,
    },
  };
  return c.json(body, err.status);
}

/**
 * Turns anything thrown into the API's error shape: a dependency that is down is 503
 * `unavailable`; anything unexpected is a 500 whose details go to the log, never to the client.
 */
export function errorHandler(log: Logger): ErrorHandler {
  return function onError(thrown, c) {
    if (thrown instanceof ApiError) return errorResponse(c, thrown);
    if (thrown instanceof DomainError) return errorResponse(c, fromDomainError(thrown));
    if (thrown instanceof HTTPException) {
      if (thrown.status === 400) return errorResponse(c, invalid([{ path: "(body)", message: "malformed JSON" }], "the request body is not valid JSON"));
      if (thrown.status === 413) return errorResponse(c, new ApiError(413, "payload_too_large", "the request body is too large"));
      // The generated body validator's own refusal of a Content-Type; requireJson refuses the same
      // types first on every route with a body, so this only keeps a route without it consistent.
      if (thrown.status === 415) return errorResponse(c, notJsonBody());
      if (thrown.status === 401) {
        // The challenge a 401 must carry (RFC 9110 §11.6.1), as the auth middleware wrote it.
        const challenge = thrown.res?.headers.get("www-authenticate");
        if (challenge) c.header("WWW-Authenticate", challenge);
        return errorResponse(c, new ApiError(401, "unauthorized", "authentication required"));
      }
      return errorResponse(c, new ApiError(thrown.status as ContentfulStatusCode, thrown.status === 404 ? "not_found" : "internal", thrown.message || "request failed"));
    }
    const err = toError(thrown);
    if (isUnavailableError(err)) {
      log.warn("request failed: a dependency is unavailable", { requestId: c.get("requestId"), method: c.req.method, path: c.req.path, err });
      return errorResponse(c, new ApiError(503, "unavailable", "the service is temporarily unavailable; try again shortly"));
    }
    log.error("request failed", { requestId: c.get("requestId"), method: c.req.method, path: c.req.path, err });
    return errorResponse(c, new ApiError(500, "internal", "internal error"));
  };
}

export const notFoundHandler: NotFoundHandler = (c) => errorResponse(c, new ApiError(404, "not_found", `no route for ${c.req.method} ${c.req.path}`));
