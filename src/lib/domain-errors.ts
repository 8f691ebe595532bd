// What went wrong, in the shop's own terms. Domain code (orders, products, webhooks, idempotency
// keys, tenants, API keys) throws these; only src/http/ decides which status each one is, so the
// same operations run from a handler or a script without knowing about HTTP.

/** One field and what is wrong with it: `items.0.unitPrice`, or `(body)` for the body as a whole. */
export interface FieldProblem {
  path: string;
  message: string;
}

export abstract class DomainError extends Error {
  constructor(message: string, readonly details?: FieldProblem[]) {
    super(message);
  }
}

/** The thing does not exist, or not for this caller (another tenant's order is not found either). */
export class NotFoundError extends DomainError {
  override name = "NotFoundError";
  constructor(readonly what: string) {
    super(`${what} not found`);
  }
}

/** Why a request conflicts with the state it found; each one is its own error code. */
export type ConflictReason = "conflict" | "idempotency_key_reused" | "price_changed";

/** The state does not allow it: already cancelled, a key reused with another body, a stale price. */
export class ConflictError extends DomainError {
  override name = "ConflictError";
  constructor(message: string, readonly reason: ConflictReason = "conflict", details?: FieldProblem[]) {
    super(message, details);
  }
}

/** The input can never be accepted as it is; `details` names each field. */
export class InvalidInputError extends DomainError {
  override name = "InvalidInputError";
  constructor(details: FieldProblem[], message = "the request is invalid") {
    super(message, details);
  }
}

/** The caller is known but may not act on this (another tenant's data, a webhook type out of scope). */
export class ForbiddenError extends DomainError {
  override name = "ForbiddenError";
}
