import type { MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { Metrics } from "../metrics/metrics.ts";
import { bearerToken, sameSecret } from "./bearer.ts";
import { metricsRoute } from "./contract/metrics.ts";
import { ApiError, errorResponse } from "./errors.ts";
import { openApiRoutes } from "./validate.ts";

/**
 * GET /metrics: Prometheus text format (0.0.4), open or, with METRICS_TOKEN, for
 * `Authorization: Bearer <METRICS_TOKEN>` only (Prometheus' `authorization` setting; compared in
 * constant time). Not the admin token: a scraper's credential must not open the admin API. With
 * METRICS_PORT it is served on that port alone (app.ts, service.ts). The gauges are read at scrape
 * time with per-dependency time limits.
 */
export function metricsRoutes({ metrics, token }: { metrics: Metrics; token: string | undefined }) {
  return openApiRoutes().openapi(metricsRoute, async (c) => {
    if (token !== undefined) {
      const given = bearerToken(c);
      if (given === undefined || !sameSecret(given, token)) {
        c.header("WWW-Authenticate", 'Bearer realm="orderstream-metrics"');
        return errorResponse(c, new ApiError(401, "unauthorized", "a valid metrics token is required: Authorization: Bearer <METRICS_TOKEN>")) as never;
      }
    }
    const body = await metrics.scrape();
    return c.body(body, 200, { "content-type": metrics.contentType, "cache-control": "no-store" }) as never;
  });
}

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/**
 * Counts and times every request by method, route pattern (`/orders/:id`, never the raw path, so
 * ids do not become label values) and status. A request no route matched is `route="unmatched"`.
 */
export function httpMetrics({ metrics }: { metrics: Metrics }): MiddlewareHandler {
  return async function recordHttpMetrics(c, next) {
    const started = performance.now();
    try {
      await next();
    } finally {
      const method = METHODS.has(c.req.method) ? c.req.method : "OTHER";
      metrics.observeRequest(method, routeOf(c), c.res.status, (performance.now() - started) / 1000);
    }
  };
}

// The last matched handler registered for a method; app.use() middleware is registered as ALL.
function routeOf(c: Parameters<MiddlewareHandler>[0]): string {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const r = routes[i]!;
    if (r.method !== "ALL") return r.path;
  }
  return "unmatched";
}
