import { Hono } from "hono";
import type { AppDeps } from "./app.ts";

// Filled in by the metrics work: GET /metrics in Prometheus text format.
export function metricsRoutes(_deps: AppDeps): Hono {
  return new Hono();
}
