import { Hono } from "hono";
import { readLastRecovery, readMachines, readOutboxState } from "../console/reads/index.ts";
import type { AppDeps } from "./app.ts";

/**
 * `GET /fleet` (admin; guarded in app.ts): the machines running consumers now, the last recovery
 * from Redis data loss, and the outbox backlog with its oldest row.
 */
export function fleetRoutes(deps: AppDeps): Hono {
  const prefix = deps.config.STREAM_PREFIX;
  return new Hono().get("/", async (c) => {
    const [machines, recovery, outbox] = await Promise.all([readMachines(deps.redis, prefix), readLastRecovery(deps.redis, prefix), readOutboxState(deps.sql)]);
    return c.json({ machines, recovery, outbox });
  });
}
