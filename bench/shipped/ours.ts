// Our side with the handlers the service ships (src/handlers), started in the benchmark process
// the way src/service.ts starts them: every subscription of the service, the shipped defaults.
import { engineOptions, type Config } from "../../src/config.ts";
import { startEngine, type Engine, type OutcomeReport } from "../../src/engine/index.ts";
import { createSubscriptions } from "../../src/handlers/index.ts";
import { createLogger } from "../../src/lib/logger.ts";
import { ourConfig } from "../ours.ts";
import { deferCleanup } from "../support/cleanup.ts";
import { cappedWrite } from "../support/log-once.ts";
import type { World } from "../support/world.ts";

export interface Shipped {
  engine: Engine;
  config: Config;
  stop(): Promise<void>;
}

/** Starts the engine with the service's own subscriptions; resolves once its consumers run. */
export async function startShipped(world: World, env: Record<string, string>, onOutcome: (r: OutcomeReport) => void): Promise<Shipped> {
  const config = ourConfig(env, world);
  const log = createLogger({ level: config.LOG_LEVEL, service: "bench", write: cappedWrite() });
  const subscriptions = createSubscriptions({ db: world.db, log });
  const engine = await startEngine({
    ...engineOptions(config), db: world.db, redis: world.redis, log, subscriptions,
    knownEventTypes: subscriptions.map((s) => s.eventType), onOutcome,
  });
  const stop = deferCleanup(`shipped engine on ${world.name}`, () => engine.stop());
  await engine.consumersStarted;
  return { engine, config, stop };
}
