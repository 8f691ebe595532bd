import { Hono, type MiddlewareHandler } from "hono";
import type { AppDeps } from "./app.ts";

// Filled in by the webhook work: POST /webhooks/:provider (signed), GET /webhooks/:provider/:webhookId (admin).
export function webhookRoutes(_deps: AppDeps, _admin: MiddlewareHandler): Hono {
  return new Hono();
}
