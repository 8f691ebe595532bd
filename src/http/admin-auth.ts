import type { Context, MiddlewareHandler } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import type { Logger } from "../lib/logger.ts";
import { ApiError, errorResponse } from "./errors.ts";

const unauthorized = (c: Context) => errorResponse(c, new ApiError(401, "unauthorized", "a valid admin token is required: Authorization: Bearer <ADMIN_TOKEN>"));

/**
 * Guards the admin endpoints with `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant
 * time (hono's bearerAuth hashes both sides before comparing). Without a token configured (only
 * allowed outside production) the endpoints are open and that is logged once.
 */
export function adminAuth({ token, log }: { token: string | undefined; log: Logger }): MiddlewareHandler {
  if (!token) {
    log.warn("ADMIN_TOKEN is not set: the admin endpoints (/dlq, POST /events, GET /webhooks) are open; set it outside local development");
    return async function openAdmin(_c, next) {
      await next();
    };
  }
  return bearerAuth({
    token,
    noAuthenticationHeader: { message: unauthorized },
    invalidAuthenticationHeader: { message: unauthorized },
    invalidToken: { message: unauthorized },
  });
}
