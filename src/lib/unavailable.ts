// Errors that mean "a dependency is down", as opposed to "this request or this code is wrong":
// the HTTP API answers them with 503, and the engine does not count them against an event.

const NETWORK_CODES = new Set([
  "ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE",
  // postgres.js
  "CONNECT_TIMEOUT", "CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED",
]);

// SQLSTATE: connection exceptions (class 08), server shutting down or starting, too many connections.
const UNAVAILABLE_SQLSTATE = /^(08...|57P01|57P02|57P03|53300)$/;

const REDIS_DOWN = /Connection is closed|Stream isn't writeable|Reached the max retries per request|connect ECONNREFUSED|LOADING|READONLY|MASTERDOWN/;

/** True when `err` says PostgreSQL or Redis could not be reached or is not accepting work. */
export function isUnavailableError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && (NETWORK_CODES.has(code) || UNAVAILABLE_SQLSTATE.test(code))) return true;
  if (err.name === "MaxRetriesPerRequestError") return true;
  return REDIS_DOWN.test(err.message);
}
