import { Hono } from "hono";
import type { AppDeps } from "./app.ts";

// Filled in by the dead-letter work: GET/POST/DELETE /dlq (admin; the guard is applied in app.ts).
export function dlqRoutes(_deps: AppDeps): Hono {
  return new Hono();
}
