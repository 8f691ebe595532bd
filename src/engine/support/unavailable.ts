import { someCause } from "./errors.ts";

// Errors that mean "a dependency is down", as opposed to "this request or this code is wrong":
// the HTTP API answers them with 503, and the engine does not count them against an event.

const NETWORK_CODES = new Set([
  "ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE",
  // postgres.js
  "CONNECT_TIMEOUT", "CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED",
]);

// SQLSTATE: connection exceptions (class 08), server shutting down or starting, too many connections.
const UNAVAILABLE_SQLSTATE = /^(08...|57P01|57P02|57P03|53300)$/;

// A cluster whose master restarted answers for a while with redirections that lead nowhere.
const CLUSTER_MOVING = /Too many Cluster redirections|CLUSTERDOWN|TRYAGAIN|Failed to refresh slots cache|None of startup nodes is available/;

const REDIS_DOWN = new RegExp(`Connection is closed|Stream isn't writeable|Reached the max retries per request|connect ECONNREFUSED|LOADING|READONLY|MASTERDOWN|${CLUSTER_MOVING.source}`);

/** True when `err` (or what it wraps: drizzle wraps the driver's error) says PostgreSQL or Redis could not be reached or is not accepting work. */
export function isUnavailableError(err: unknown): boolean {
  return someCause(err, unavailable);
}

function unavailable(err: Error): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && (NETWORK_CODES.has(code) || UNAVAILABLE_SQLSTATE.test(code))) return true;
  if (err.name === "MaxRetriesPerRequestError") return true;
  return REDIS_DOWN.test(err.message);
}

// What postgres.js and ioredis say when an established connection goes away mid-work.
const CONNECTION_LOST_CODES = new Set(["CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT"]);

/**
 * True when `err` says the service's own PostgreSQL or Redis went away while a handler ran (its
 * transaction's connection closed, the server is shutting down, a Redis command could not be
 * sent). Narrower than isUnavailableError on purpose: a handler's own network call failing
 * (`fetch` to a provider: ECONNREFUSED, ETIMEDOUT) is the handler's failure and uses up an attempt.
 */
export function isConnectionLost(err: unknown): boolean {
  return someCause(err, connectionLost);
}

function connectionLost(err: Error): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && (CONNECTION_LOST_CODES.has(code) || UNAVAILABLE_SQLSTATE.test(code))) return true;
  return err.name === "MaxRetriesPerRequestError" || /Connection is closed|Stream isn't writeable/.test(err.message) || CLUSTER_MOVING.test(err.message);
}
