import type { Hono } from "hono";
import type { Engine, EngineParts } from "../../src/engine/index.ts";
import { createSubscriptions } from "../../src/handlers/index.ts";
import { createApp, type AppDeps } from "../../src/http/app.ts";
import { createMetrics, type Metrics } from "../../src/metrics/metrics.ts";
import type { Transport } from "../../src/notifications/transport.ts";
import type { Subscription } from "../../src/engine/delivery/subscribe.ts";
import type { TestContext } from "./context.ts";
import { checkContract } from "./contract.ts";

export interface TestApi {
  app: Hono;
  engine: Engine | null;
  /** The metrics the app renders and the engine's hooks count into. */
  metrics: Metrics;
  /** Sends a request through `app.request()`; a non-string body is sent as JSON. */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
}

/**
 * The HTTP API on the test's own schema and prefix. With `engine` (the default) the real
 * handlers run too, so events written by a request are delivered.
 */
export async function startTestApi(
  ctx: TestContext,
  opts: {
    engine?: boolean; env?: Record<string, string>; transport?: Transport;
    /** Instead of the business handlers. */
    subscriptions?: Subscription[];
    parts?: EngineParts;
    /** The app's own dependencies, e.g. a database or Redis client that cannot connect (the engine keeps the test's). */
    deps?: Partial<Pick<AppDeps, "sql" | "db" | "redis">>;
    /** Requests get spans (the test registered an OpenTelemetry SDK). */
    tracing?: boolean;
  } = {},
): Promise<TestApi> {
  const config = ctx.config(opts.env);
  const subscriptions = opts.subscriptions ?? createSubscriptions({ db: ctx.db, log: ctx.log, webhookScopes: config.WEBHOOK_SCOPES, ...(opts.transport ? { transport: opts.transport } : {}) });
  const appDeps = { db: ctx.db, sql: ctx.sql, redis: ctx.redis, ...opts.deps };
  const metrics = createMetrics({ sql: appDeps.sql, redis: appDeps.redis, prefix: ctx.prefix, version: "test" });
  const engine = opts.engine === false ? null : await ctx.startEngine(subscriptions, {
    ...(opts.env ? { env: opts.env } : {}), ...(opts.parts ? { parts: opts.parts } : {}),
    onOutcome: metrics.onOutcome, onPublished: metrics.onPublished,
    // With the business handlers, as the service runs: a type none of them reads is set aside.
    ...(opts.subscriptions ? {} : { knownEventTypes: subscriptions.map((s) => s.eventType) }),
  });
  const app = createApp({ ...appDeps, config, engine, log: ctx.log, version: "test", startedAt: Date.now(), metrics, ...(opts.tracing ? { tracing: true } : {}) });
  // Every response a test receives, through call() or app.request(), must match the document.
  checkContract(app);
  return {
    app,
    engine,
    metrics,
    async call(method, path, body, headers = {}) {
      const init: RequestInit = { method, headers: { ...headers } };
      if (body !== undefined) {
        init.body = typeof body === "string" ? body : JSON.stringify(body);
        (init.headers as Record<string, string>)["content-type"] ??= "application/json";
      }
      const res = await app.request(path, init);
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {}
      return { status: res.status, body: parsed, headers: res.headers };
    },
  };
}
