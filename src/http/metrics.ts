import { Hono, type MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { createMetrics, type Metrics } from "../metrics/metrics.ts";
import type { AppDeps } from "./app.ts";

/**
 * GET /metrics: Prometheus text format (0.0.4). Not behind the admin token: Fly.io's scraper
 * sends none. The gauges are read at scrape time with per-dependency time limits.
 */
export function metricsRoutes(deps: AppDeps): Hono {
  const metrics = deps.metrics ?? createMetrics({ sql: deps.sql, redis: deps.redis, prefix: deps.config.STREAM_PREFIX, version: deps.version });
  return new Hono().get("/", async (c) => {
    const body = await metrics.scrape();
    return c.body(body, 200, { "content-type": metrics.contentType, "cache-control": "no-store" });
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
