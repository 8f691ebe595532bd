import { Hono } from "hono";
import type Redis from "ioredis";
import type { Sql } from "../db/client.ts";
import type { Engine } from "../engine.ts";
import { healthRoutes } from "./health.ts";

export interface AppDeps {
  sql: Sql;
  redis: Redis;
  engine: Engine | null;
  version: string;
  startedAt: number;
}

/** The HTTP API, built from explicit dependencies so tests can call `app.request()` on their own. */
export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  app.route("/health", healthRoutes(deps));
  return app;
}
