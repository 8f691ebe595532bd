import { Hono } from "hono";
import type { AppDeps } from "./app.ts";

const probe = async (fn: () => Promise<unknown>) => {
  try {
    await Promise.race([fn(), new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), 2_000))]);
    return { ok: true as const };
  } catch (err) {
    return { ok: false as const, error: (err as Error).message };
  }
};

export function healthRoutes(deps: AppDeps): Hono {
  const app = new Hono();
  app.get("/live", (c) => c.json({ status: "ok" }));
  app.get("/", async (c) => {
    const [postgres, redis] = await Promise.all([probe(() => deps.sql`select 1`), probe(() => deps.redis.ping())]);
    const down = !postgres.ok || !redis.ok;
    return c.json(
      {
        status: down ? "down" : "ok",
        checks: { postgres, redis, relay: deps.engine?.relay?.status() ?? null },
        version: deps.version,
        uptimeS: Math.round((Date.now() - deps.startedAt) / 1000),
      },
      down ? 503 : 200,
    );
  });
  app.get("/ready", async (c) => {
    const [postgres, redis] = await Promise.all([probe(() => deps.sql`select 1`), probe(() => deps.redis.ping())]);
    const ok = postgres.ok && redis.ok && deps.engine !== null;
    return c.json({ status: ok ? "ok" : "unavailable", checks: { postgres, redis } }, ok ? 200 : 503);
  });
  return app;
}
