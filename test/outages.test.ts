// PostgreSQL or Redis going away under a running service, or not being there at start: orders
// are still taken where they can be, requests fail fast where they cannot, and everything
// resumes on its own when the dependency is back.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { createServer, type Server } from "node:net";
import type { Hono } from "hono";
import { createDatabase } from "../src/db/client.ts";
import { createRedis } from "../src/engine/index.ts";
import type { Engine } from "../src/engine/index.ts";
import { createSubscriptions } from "../src/handlers/index.ts";
import { createApp } from "../src/http/app.ts";
import { startTestApi, type TestApi } from "./support/api.ts";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { killProcesses, startProcess } from "./support/process.ts";
import { privatePostgres } from "./support/private-postgres.ts";
import { freePort, killPrivateRedis, privateRedis } from "./support/private-redis.ts";
import { createProduct, orderBody, waitForStatus } from "./support/shop.ts";
import { checkContract } from "./support/contract.ts";

let ctx: TestContext;
const closers: (() => Promise<unknown> | void)[] = [];
beforeEach(async () => (ctx = await createTestContext()));
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await killProcesses();
  await killPrivateRedis();
  await ctx.cleanup();
});

/** The API and the engine on a Redis of the test's own (the engine's own, unlike startTestApi). */
async function serviceOn(redisUrl: string): Promise<{ api: TestApi; engine: Engine }> {
  const redis = createRedis(redisUrl);
  await redis.connect();
  closers.push(() => redis.disconnect());
  const engine = await ctx.startEngine(createSubscriptions({ db: ctx.db, log: ctx.log }), { redis });
  closers.push(() => engine.stop());
  const app: Hono = createApp({ db: ctx.db, sql: ctx.sql, redis, config: ctx.config(), engine, log: ctx.log, version: "test", startedAt: Date.now() });
  // Answers during an outage keep to the documented contract too.
  checkContract(app);
  const call: TestApi["call"] = async (method, path, body) => {
    const res = await app.request(path, { method, headers: { "content-type": "application/json" }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
  };
  return { api: { app, engine, metrics: undefined as never, call }, engine };
}

/** Fails the test if `p` has not settled within `ms`: a request during an outage must answer, not hang. */
function answersWithin<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} hung`)), ms)))]).finally(() => clearTimeout(timer));
}

test("Redis down: POST /orders is still 201, health names redis, and every order flows once Redis is back (empty)", async () => {
  const server = await privateRedis();
  await server.start();
  const { api, engine } = await serviceOn(server.url);
  await engine.consumersStarted;
  const product = await createProduct(api, "tenant-1", "SKU-1", 100);
  const before = (await api.call("POST", "/orders", orderBody("tenant-1", [{ productId: product.id, quantity: 1, unitPrice: 10 }]))).body;
  await waitForStatus(api, before.id, "confirmed");

  await server.kill();
  const during: string[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await answersWithin(api.call("POST", "/orders", orderBody("tenant-1", [{ productId: product.id, quantity: 2, unitPrice: 10 }])), 10_000, "POST /orders");
    expect(res.status).toBe(201);
    during.push(res.body.id);
  }
  const health = await api.call("GET", "/health");
  expect(health.status).toBe(503);
  expect(health.body.checks).toMatchObject({ redis: { ok: false }, postgres: { ok: true } });

  await server.start(); // the same port, no data: the streams, groups and the sentinel are gone
  // Watched as it happens: a consumer that met a missing group while the recovery ran makes the
  // next check vouch for that partition again (reason part_new), which then becomes `last`.
  const recovery = await waitFor("the recovery from the data loss", async () => {
    const checks = (await api.call("GET", "/health")).body.checks.recovery;
    return checks?.last?.reason === "missing" ? checks : null;
  }, 20_000, 50);
  expect(recovery).toMatchObject({ ok: true, watching: true });
  for (const id of during) await waitForStatus(api, id, "confirmed");
  expect(await api.call("GET", `/products/${product.id}`).then((r) => r.body.stock)).toBe(100 - 1 - 3 * 2);
  // Each order's handlers ran once: one confirmation e-mail per order, stock taken once.
  const mails = async () => (await ctx.sql<{ n: number }[]>`select count(*)::int as n from notifications where event_type = 'order.confirmed'`)[0]!.n;
  await waitFor("a confirmation e-mail per order", async () => (await mails()) >= 4, 20_000);
  await Bun.sleep(500);
  expect(await mails()).toBe(4);
}, 60_000);

test("PostgreSQL not answering: writes answer 503 unavailable instead of hanging, and /health/ready is 503", async () => {
  // Accepts connections and never says a word: what a hung or unreachable server looks like.
  const silent: Server = createServer(() => {});
  const port = await freePort();
  await new Promise<void>((r) => silent.listen(port, "127.0.0.1", r));
  closers.push(() => new Promise<void>((r) => silent.close(() => r())));
  const hung = createDatabase(`postgres://postgres@127.0.0.1:${port}/x`, { max: 2 });
  closers.push(() => hung.sql.end({ timeout: 0 }));
  const api = await startTestApi(ctx, { engine: false, deps: hung });

  const order = await answersWithin(api.call("POST", "/orders", orderBody("tenant-1", [{ productId: crypto.randomUUID(), quantity: 1, unitPrice: 10 }])), 10_000, "POST /orders");
  expect(order.status).toBe(503);
  expect(order.body.error.code).toBe("unavailable");
  const ready = await answersWithin(api.call("GET", "/health/ready"), 10_000, "GET /health/ready");
  expect(ready.status).toBe(503);
  expect(ready.body.checks.postgres.ok).toBe(false);
});

test("a service starting while Redis is down waits for it (STARTUP_TIMEOUT_MS), then starts and consumes", async () => {
  const server = await privateRedis();
  const child = startProcess(ctx, { env: { REDIS_URL: server.url, STARTUP_TIMEOUT_MS: "30s" } });
  await child.waitForLine(/"msg":"Redis does not answer yet; waiting for it"/);
  await server.start();
  await child.port(20_000);
  const redis = createRedis(server.url);
  closers.push(() => redis.disconnect());
  const [row] = await ctx.sql<{ id: string }[]>`insert into outbox (event_type, payload) values ('job.run', '{"n": 1}') returning id`;
  await child.waitForLine(new RegExp(`^STARTED ${row!.id}$`));
  expect(child.stderr.filter((l) => l.trim() !== "")).toEqual([]);
}, 40_000);

test("PostgreSQL going down under a running service: writes 503, ready 503, no exit and a bounded log; everything resumes when it is back", async () => {
  const pg = await privatePostgres();
  closers.push(() => pg.destroy());
  await pg.start();
  const child = startProcess(ctx, { entry: "main", env: { DATABASE_URL: pg.url("orderstream"), MIGRATE_ON_START: "true", LOG_LEVEL: "info" } });
  let exited = false;
  void child.exited.then(() => (exited = true));
  const base = `http://127.0.0.1:${await child.port(30_000)}`;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await answersWithin(fetch(`${base}${path}`, { method, headers: { "content-type": "application/json" }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) }), 15_000, `${method} ${path}`);
    return { status: res.status, body: (await res.json().catch(() => null)) as any };
  };
  const product = (await call("POST", "/products", { tenantId: "tenant-1", sku: "SKU-1", name: "P", price: 10, stock: 100 })).body;
  const order = () => call("POST", "/orders", orderBody("tenant-1", [{ productId: product.id, quantity: 1, unitPrice: 10 }]));
  const first = await order();
  expect(first.status).toBe(201);
  const confirmed = (id: string, ms = 30_000) => waitFor(`order ${id} confirmed`, async () => (await call("GET", `/orders/${id}`)).body?.status === "confirmed", ms, 100);
  await confirmed(first.body.id);

  await pg.stop();
  const refused = await order();
  expect(refused.status).toBe(503);
  expect(refused.body.error.code).toBe("unavailable");
  expect((await call("GET", "/health/ready")).status).toBe(503);
  const linesAtOutage = child.stdout.length;
  // Several relay ticks, consumer reads and retries during the outage, and callers retrying.
  const outageEnds = Date.now() + 4_000;
  while (Date.now() < outageEnds) {
    expect((await order()).status).toBe(503);
    await Bun.sleep(50);
  }

  await pg.start();
  const after = await waitFor("a write accepted again", async () => {
    const res = await order();
    return res.status === 201 ? res.body : null;
  }, 30_000, 500);
  // Handled promptly, not after the connections' reconnect backoff has grown through the outage
  // (postgres.js' default waits up to 20 s once PostgreSQL is back).
  await confirmed(after.id, 6_000);
  await waitFor("ready again", async () => (await call("GET", "/health/ready")).status === 200, 30_000, 500);

  expect(exited).toBe(false); // no crash, no restart loop
  // A few lines per component for the whole outage, not one per retry (each refused request logs its own).
  const outageLines = child.stdout.slice(linesAtOutage).filter((l) => /"level":"(warn|error)"/.test(l) && !l.includes('"requestId"'));
  expect(outageLines.length).toBeLessThan(40);
}, 120_000);
