import type { Context, MiddlewareHandler } from "hono";
import { findApiKey } from "../api-keys/api-keys.ts";
import type { Db } from "../db/client.ts";
import type { Logger } from "../lib/logger.ts";
import { bearerToken, sameSecret } from "./bearer.ts";
import { ApiError, errorResponse, forbidden } from "./errors.ts";

/** Per request: the tenant the caller acts for, or null when it may act for any tenant. */
export type AuthEnv = { Variables: { tenantScope: string | null } };

export interface ApiAuthOptions {
  /** API_AUTH: `keys` requires a key (or the admin token) on every business route; `off` does not. */
  mode: "keys" | "off";
  /** ADMIN_TOKEN: acts for any tenant. */
  adminToken: string | undefined;
  db: Db;
  log: Logger;
}

const CHALLENGE = 'Bearer realm="orderstream"';

function unauthorized(c: Context): Response {
  c.header("WWW-Authenticate", CHALLENGE);
  return errorResponse(c, new ApiError(401, "unauthorized", "a valid API key is required: Authorization: Bearer <key> (POST /api-keys creates one)"));
}

/**
 * Authenticates callers of the business routes (products, orders, tenant counters). A valid API
 * key acts for its own tenant only; ADMIN_TOKEN acts for any tenant (operators, support tools).
 * With `mode: "off"` a request without Authorization acts for any tenant, and that is logged once,
 * loudly, when the app is built; a request that does send a credential is held to it either way.
 * Keys are compared by their SHA-256 (see findApiKey), the admin token in constant time.
 */
export function apiAuth({ mode, adminToken, db, log }: ApiAuthOptions): MiddlewareHandler<AuthEnv> {
  if (mode === "off") {
    log.warn("API_AUTH=off: the business API (products, orders, payments, cancellations, tenant counters) is open to anyone who can reach it; set API_AUTH=keys outside local development");
  }
  return async function authenticateCaller(c, next) {
    if (mode === "off" && c.req.header("authorization") === undefined) {
      c.set("tenantScope", null);
      return next();
    }
    const token = bearerToken(c);
    if (token !== undefined && adminToken !== undefined && sameSecret(token, adminToken)) {
      c.set("tenantScope", null);
      return next();
    }
    const key = token === undefined ? undefined : await findApiKey(db, token);
    if (!key) return unauthorized(c);
    c.set("tenantScope", key.tenantId);
    return next();
  };
}

/**
 * The tenant this caller acts for, or null for any. Fails closed: a route reached without the
 * apiAuth middleware is an error, never an open door.
 */
export function tenantScope(c: Context<AuthEnv>): string | null {
  const scope = c.get("tenantScope");
  if (scope === undefined) throw new Error("the business route was reached without the apiAuth middleware");
  return scope;
}

/** A body that names a tenant the caller does not act for is a 403 naming the field. */
export function requireOwnTenant(c: Context<AuthEnv>, tenantId: string, path = "tenantId"): void {
  const scope = tenantScope(c);
  if (scope !== null && scope !== tenantId) {
    throw forbidden("this API key acts for another tenant", [{ path, message: `this API key may act for tenant ${scope} only` }]);
  }
}
