// Scenario 4: POST /orders against the real service (`bun src/main.ts` as a child, on its own
// database, prefix and port, with its business handlers consuming what the orders produce), and
// the service's peak resident memory over the run.
import autocannon, { type Options, type Result } from "autocannon";
import { randomBytes } from "node:crypto";
import type { Plan } from "../sizes.ts";
import { freePort, readMemory, spawnService, type Child } from "../support/child.ts";
import { onInterrupt } from "../support/cleanup.ts";
import { round } from "../support/stats.ts";
import { createWorld, REDIS_URL } from "../support/world.ts";

const TENANT = "bench-shop";
const PRICE = 12.5;

export interface HttpResult {
  connections: number;
  seconds: number;
  requests: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  non2xx: number;
  errors: number;
  ordersStored: number;
  /** VmHWM of the service process at the end of the run: peak resident memory since it started. */
  peakMemoryMb: number;
  /** VmRSS once ready, before the load. */
  idleMemoryMb: number;
}

export async function runHttp(plan: Plan): Promise<HttpResult> {
  const { size } = plan;
  const world = await createWorld("http", plan);
  let child: Child | null = null;
  try {
    const port = freePort();
    const adminToken = randomBytes(24).toString("hex");
    child = spawnService("src/main.ts", {
      NODE_ENV: "production",
      ADMIN_TOKEN: adminToken,
      DATABASE_URL: world.url,
      REDIS_URL,
      STREAM_PREFIX: world.prefix,
      CONSUMER_NAME: `${world.prefix}-service`,
      PORT: String(port),
      LOG_LEVEL: "warn",
      ...plan.oursEnv,
    }, "service");
    const base = `http://127.0.0.1:${port}`;
    await waitUntilReady(base, child);
    const idle = await readMemory(child.pid);
    // Production requires API keys (API_AUTH=keys): the run authenticates every request as a shop would.
    const auth = { authorization: `Bearer ${await createApiKey(base, adminToken)}` };
    const products = await createProducts(base, size.http.products, auth);

    const result = await load({
      url: base,
      connections: size.http.connections,
      duration: size.http.seconds,
      requests: products.map((productId, i) => ({
        method: "POST",
        path: "/orders",
        headers: { "content-type": "application/json", ...auth },
        body: JSON.stringify(orderBody(productId, i)),
      })),
    });
    const memory = await readMemory(child.pid);
    if (child.exitCodeKnown()) throw new Error(`the service exited during the run\n${child.tail()}`);
    const [stored] = await world.sql<{ n: number }[]>`select count(*)::int as n from orders`;
    const run: HttpResult = {
      connections: size.http.connections,
      seconds: result.duration,
      requests: result.requests.total,
      requestsPerSecond: Math.round(result.requests.total / Math.max(0.001, result.duration)),
      latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
      non2xx: result.non2xx,
      errors: result.errors,
      ordersStored: stored!.n,
      peakMemoryMb: round((memory?.vmHwmKb ?? NaN) / 1024),
      idleMemoryMb: round((idle?.vmRssKb ?? NaN) / 1024),
    };
    if (run.non2xx > 0 || run.errors > 0) {
      throw new Error(`POST /orders: ${run.non2xx} non-2xx answers (${JSON.stringify(result.statusCodeStats)}), ${run.errors} errors\n${child.tail()}`);
    }
    return run;
  } finally {
    await child?.stop();
    await world.dispose();
  }
}

async function waitUntilReady(base: string, child: Child): Promise<void> {
  let exited = false;
  void child.exited.then(() => (exited = true));
  const until = Date.now() + 30_000;
  while (Date.now() < until && !exited) {
    const res = await fetch(`${base}/health/ready`).catch(() => null);
    if (res?.status === 200) return;
    await Bun.sleep(100);
  }
  throw new Error(`the service ${exited ? "exited" : "was not ready within 30 s"}\n${child.tail()}`);
}

/** Runs autocannon; an interrupted run stops at once instead of loading the service to the end. */
function load(opts: Options): Promise<Result> {
  return new Promise((resolve, reject) => {
    let interrupted: Error | null = null;
    const instance = autocannon(opts, (err, result) => {
      unsubscribe();
      if (err || interrupted) reject(err ?? interrupted);
      else resolve(result);
    });
    const unsubscribe = onInterrupt((err) => {
      interrupted = err;
      instance.stop();
    });
  });
}

/** A key of the bench tenant, made with the admin token. */
async function createApiKey(base: string, adminToken: string): Promise<string> {
  const res = await fetch(`${base}/api-keys`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${adminToken}` },
    body: JSON.stringify({ tenantId: TENANT }),
  });
  if (res.status !== 201) throw new Error(`POST /api-keys answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  return ((await res.json()) as { key: string }).key;
}

/** A few products with stock for every order the run can send. */
async function createProducts(base: string, n: number, auth: Record<string, string>): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${base}/products`, {
      method: "POST",
      headers: { "content-type": "application/json", ...auth },
      body: JSON.stringify({ tenantId: TENANT, sku: `BENCH-${i}`, name: `Bench product ${i}`, price: PRICE, stock: 2_000_000_000 }),
    });
    if (res.status !== 201) throw new Error(`POST /products answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
    ids.push(((await res.json()) as { id: string }).id);
  }
  return ids;
}

/** A valid order (the seed's example body) for one product. */
function orderBody(productId: string, i: number) {
  return {
    tenantId: TENANT,
    customerId: `customer-${i}`,
    customerEmail: `customer${i}@example.com`,
    items: [{ productId, quantity: 1 + (i % 2), unitPrice: PRICE }],
    shippingAddress: { firstName: "John", lastName: "Doe", address1: "123 Main St", city: "Istanbul", postalCode: "34000", country: "TR" },
  };
}
