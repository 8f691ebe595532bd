import { OpenAPIHono } from "@hono/zod-openapi";
import { Hono } from "hono";
import type { BlankEnv } from "hono/types";
import { requestId } from "hono/request-id";
import type Redis from "ioredis";
import type { Config } from "../config.ts";
import type { Database } from "../db/client.ts";
import type { Logger } from "../lib/logger.ts";
import { createMetrics, type Metrics } from "../metrics/metrics.ts";
import { adminAuth } from "./admin-auth.ts";
import { apiAuth } from "./api-auth.ts";
import { apiKeyRoutes } from "./api-keys.ts";
import { bodyLimit } from "./body-limit.ts";
import { dlqRoutes } from "./dlq.ts";
import { ApiError, errorHandler, errorResponse, notFoundHandler } from "./errors.ts";
import { eventRoutes } from "./events.ts";
import { scheduleRoutes } from "./schedules.ts";
import { fleetRoutes } from "./fleet.ts";
import { handlerRoutes } from "./handlers.ts";
import { consoleRoutes } from "../console/routes.tsx";
import { healthRoutes } from "./health.ts";
import { httpMetrics, metricsRoutes } from "./metrics.ts";
import { contractRoutes } from "./openapi.ts";
import { orderRoutes } from "./orders.ts";
import { productRoutes } from "./products.ts";
import { tenantRoutes } from "./tenants.ts";
import { traceRequests } from "./tracing.ts";
import { webhookRoutes } from "./webhooks.ts";
import type { Engine } from "../engine/index.ts";

export interface AppDeps extends Database {
  config: Config;
  redis: Redis;
  /** Null while the service starts, or in tests that need no delivery. */
  engine: Engine | null;
  log: Logger;
  version: string;
  startedAt: number;
  /** The service's metrics (shared with the engine's hooks); a fresh set when absent. */
  metrics?: Metrics;
  /** An OpenTelemetry SDK is registered (src/telemetry.ts): every request gets a span. Defaults to false. */
  tracing?: boolean;
}

/** The routes that act for a tenant: API keys (API_AUTH) guard them. */
const BUSINESS_ROUTES = ["/products", "/orders", "/tenants"] as const;

/** The HTTP API, built from explicit dependencies so tests can call `app.request()` on their own. */
export function createApp(deps: AppDeps): OpenAPIHono<BlankEnv> {
  const metrics = deps.metrics ?? createMetrics({ sql: deps.sql, redis: deps.redis, prefix: deps.config.STREAM_PREFIX, version: deps.version });
  const app = new OpenAPIHono<BlankEnv>();
  // First: the request's span covers everything else, and is active while its events are written.
  if (deps.tracing) app.use(traceRequests({ serviceName: deps.config.SERVICE_NAME, version: deps.version }));
  app.use(httpMetrics({ metrics }));
  app.onError(errorHandler(deps.log));
  app.notFound(notFoundHandler);
  app.use(requestId());
  // Before the body limit: an unauthenticated body is never read.
  const business = apiAuth({ mode: deps.config.API_AUTH, adminToken: deps.config.ADMIN_TOKEN, db: deps.db, log: deps.log });
  for (const path of BUSINESS_ROUTES) {
    app.use(path, business);
    app.use(`${path}/*`, business);
  }
  app.use(bodyLimit({
    maxBytes: deps.config.MAX_BODY_BYTES,
    onError: (c) => errorResponse(c, new ApiError(413, "payload_too_large", `the request body is larger than ${deps.config.MAX_BODY_BYTES} bytes`)),
  }));
  const admin = adminAuth({ token: deps.config.ADMIN_TOKEN, log: deps.log });

  app.route("/health", healthRoutes(deps));
  // With METRICS_PORT, /metrics is served by createMetricsApp on that port, not here.
  if (deps.config.METRICS_PORT === undefined) app.route("/metrics", metricsRoutes({ metrics, token: deps.config.METRICS_TOKEN }));
  app.route("/products", productRoutes(deps));
  app.route("/orders", orderRoutes(deps));
  app.route("/tenants", tenantRoutes(deps));
  app.route("/events", eventRoutes(deps, admin));
  app.use("/api-keys", admin);
  app.use("/api-keys/*", admin);
  app.route("/api-keys", apiKeyRoutes(deps));
  app.route("/webhooks", webhookRoutes(deps, admin));
  app.use("/schedules", admin);
  app.use("/schedules/*", admin);
  app.route("/schedules", scheduleRoutes(deps));
  app.use("/dlq", admin);
  app.use("/dlq/*", admin);
  app.route("/dlq", dlqRoutes(deps));
  for (const path of ["/handlers", "/handlers/*", "/fleet"]) app.use(path, admin);
  app.route("/handlers", handlerRoutes(deps));
  app.route("/fleet", fleetRoutes(deps));
  // HTML pages for people, not part of the JSON API: left out of the document.
  app.route("/ui", consoleRoutes(deps));
  contractRoutes(app);
  return app;
}

/** /metrics alone, for METRICS_PORT: nothing else of the API is reachable on that port. */
export function createMetricsApp({ metrics, config, log }: { metrics: Metrics; config: Config; log: Logger }): Hono {
  const app = new Hono();
  app.onError(errorHandler(log));
  app.notFound(notFoundHandler);
  app.use(requestId());
  app.route("/metrics", metricsRoutes({ metrics, token: config.METRICS_TOKEN }));
  return app;
}
