import { readLastRecovery, readMachines, readOutboxState } from "../console/reads/index.ts";
import type { AppDeps } from "./app.ts";
import { fleetRoute } from "./contract/fleet.ts";
import { openApiRoutes } from "./validate.ts";

/**
 * `GET /fleet` (admin; guarded in app.ts): the machines running consumers now, the last recovery
 * from Redis data loss, and the outbox backlog with its oldest row.
 */
export function fleetRoutes(deps: AppDeps) {
  const prefix = deps.config.STREAM_PREFIX;
  return openApiRoutes().openapi(fleetRoute, async (c) => {
    const [machines, recovery, outbox] = await Promise.all([readMachines(deps.redis, prefix), readLastRecovery(deps.redis, prefix), readOutboxState(deps.sql)]);
    return c.json({ machines, recovery, outbox }, 200);
  });
}
