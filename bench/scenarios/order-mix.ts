// Scenario 0b: orders through the HTTP API, as a shop places them: POST /orders for one tenant,
// until each order is through the shipped chain (order.created -> inventory reserves and confirms,
// analytics counts -> order.confirmed -> notifications e-mails, analytics counts). Both sides
// serve the same HTTP API in this process; ours delivers with the engine, the peer with the
// outbox scanner + BullMQ doing the same effects (one job per event).
import { createApp } from "../../src/http/app.ts";
import { createLogger } from "../../src/lib/logger.ts";
import type { Engine, OutcomeReport } from "../../src/engine/index.ts";
import { createPeerQueue, startPeerWorker, type PeerJob } from "../peer/bullmq.ts";
import { startScanner } from "../peer/scanner.ts";
import { describeOurs, ourConfig } from "../ours.ts";
import { announceConfirmed, reserveOrder } from "../shipped/peer-effects.ts";
import { startShipped } from "../shipped/ours.ts";
import type { Plan } from "../sizes.ts";
import { Completion } from "../support/completion.ts";
import { measureCpu } from "../support/cpu.ts";
import { distribution, perSecond, round, type Distribution } from "../support/stats.ts";
import { createWorld, type World } from "../support/world.ts";

const TENANT = "order-mix-shop";
const PRICE = 12.5;
/** The (handler, event type) pairs that finish an order on our side. */
const FINISHING = new Set(["inventory@order.created", "analytics@order.created", "notifications@order.confirmed", "analytics@order.confirmed"]);

export interface OrderMixRun {
  side: "ours" | "peer";
  orders: number;
  seconds: number;
  /** Orders per second from the first request to the last effect of the last order. */
  ordersPerSecond: number;
  httpMs: Distribution;
  setup: string;
  cpuMsPer1k: { bench: number; postgres: number; redis: number };
}

export interface OrderMixResult {
  orders: number;
  connections: number;
  runs: OrderMixRun[];
  ours: OrderMixRun;
  peer: OrderMixRun;
  ratio: number;
}

export async function runOrderMix(plan: Plan): Promise<OrderMixResult> {
  const ours = await mixOurs(plan);
  const peers: OrderMixRun[] = [];
  for (const concurrency of plan.size.orderMix.peerConcurrency) peers.push(await mixPeer(plan, concurrency));
  const peer = peers.reduce((a, b) => (b.ordersPerSecond > a.ordersPerSecond ? b : a), peers[0] ?? ours);
  return { orders: plan.size.orderMix.orders, connections: plan.size.orderMix.connections, runs: [ours, ...peers], ours, peer, ratio: round(ours.ordersPerSecond / Math.max(1, peer.ordersPerSecond), 2) };
}

async function mixOurs(plan: Plan): Promise<OrderMixRun> {
  const n = plan.size.orderMix.orders;
  const world = await createWorld("mix-ours", plan);
  const completion = new Completion(n * FINISHING.size, "order mix ours", plan.size.stallMs);
  try {
    const onOutcome = (r: OutcomeReport) => {
      if (!FINISHING.has(`${r.handler}@${r.eventType}`)) return;
      if (r.outcome === "processed") completion.hit();
      else if (r.outcome !== "duplicate") completion.fail(new Error(`ours: ${r.handler}@${r.eventType} ended as ${r.outcome}`));
    };
    const ours = await startShipped(world, plan.oursEnv, onOutcome);
    const timed = await timeOrders(world, plan, ours.engine, completion);
    await ours.stop();
    await expectEffects(world, n, "ours");
    return { side: "ours", ...timed, setup: describeOurs(ours.config) };
  } finally {
    completion.dispose();
    await world.dispose();
  }
}

async function mixPeer(plan: Plan, concurrency: number): Promise<OrderMixRun> {
  const n = plan.size.orderMix.orders;
  const world = await createWorld("mix-peer", plan);
  const completion = new Completion(n * 2, `order mix peer c${concurrency}`, plan.size.stallMs);
  try {
    const { queue, close: closeQueue } = createPeerQueue(world, "events");
    const { close: closeWorker } = await startPeerWorker(world, "events", {
      concurrency,
      process: async (job) => {
        const data = job.data as unknown as PeerJob<never>;
        if (data.type === "order.created") await reserveOrder(world.db, data as never);
        else if (data.type === "order.confirmed") await announceConfirmed(world.db, data as never);
      },
      onCompleted: (job) => {
        if (["order.created", "order.confirmed"].includes(job.data.type)) completion.hit();
      },
      onProblem: (err) => completion.fail(err),
    });
    // The seed's scanner at a fair 100 ms (it cannot be woken by a commit in another process).
    const scanner = startScanner({
      sql: world.sql, queue, batchSize: plan.size.burst.batchSize, intervalMs: plan.size.burst.peerScanMs,
      onError: (err) => completion.fail(new Error(`peer scanner: ${err.message}`)),
    });
    const timed = await timeOrders(world, plan, null, completion);
    await scanner.stop();
    await closeWorker();
    await closeQueue();
    await expectEffects(world, n, "peer");
    return { side: "peer", ...timed, setup: `Worker concurrency ${concurrency}, scan every ${plan.size.burst.peerScanMs} ms` };
  } finally {
    completion.dispose();
    await world.dispose();
  }
}

/** Serves the HTTP API, sends the orders with `connections` in flight, and times to the last effect. */
async function timeOrders(world: World, plan: Plan, engine: Engine | null, completion: Completion) {
  const { orders: n, connections, products: productCount } = plan.size.orderMix;
  const config = ourConfig(plan.oursEnv, world);
  const app = createApp({ sql: world.sql, db: world.db, redis: world.redis, config, engine, log: createLogger({ level: "error" }), version: "bench", startedAt: Date.now() });
  const server = Bun.serve({ port: 0, fetch: app.fetch });
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const products = await createProducts(base, productCount);
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    const cpu = measureCpu();
    const client = async () => {
      while (next < n && !completion.failure) {
        const i = next++;
        const t0 = performance.now();
        const res = await fetch(`${base}/orders`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(orderBody(products[i % products.length]!, i)) });
        latencies.push(performance.now() - t0);
        if (res.status !== 201) completion.fail(new Error(`POST /orders answered ${res.status}: ${await res.text()}`));
        else await res.arrayBuffer();
      }
    };
    await Promise.all(Array.from({ length: connections }, client));
    const finished = await completion.done;
    const used = cpu();
    const ms = finished - started;
    const per1k = (cpuMs: number) => Math.round(cpuMs / (n / 1000));
    return {
      orders: n, seconds: round(ms / 1000, 3), ordersPerSecond: perSecond(n, ms), httpMs: distribution(latencies),
      cpuMsPer1k: { bench: per1k(used.processMs), postgres: per1k(used.postgresMs), redis: per1k(used.redisMs) },
    };
  } finally {
    server.stop(true);
  }
}

async function createProducts(base: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const res = await fetch(`${base}/products`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ tenantId: TENANT, sku: `MIX-${i}`, name: `Product ${i}`, price: PRICE, stock: 1_000_000_000 }),
    });
    if (res.status !== 201) throw new Error(`POST /products answered ${res.status}: ${await res.text()}`);
    ids.push(((await res.json()) as { id: string }).id);
  }
  return ids;
}

function orderBody(productId: string, i: number) {
  return {
    tenantId: TENANT, customerId: `customer-${i}`, customerEmail: `customer${i}@example.com`,
    items: [{ productId, quantity: 1 + (i % 2), unitPrice: PRICE }],
    shippingAddress: { firstName: "John", lastName: "Doe", address1: "123 Main St", city: "Istanbul", postalCode: "34000", country: "TR" },
  };
}

/** Every order confirmed, one e-mail each, and counted once as created and once as confirmed. */
async function expectEffects(world: World, n: number, side: string): Promise<void> {
  const [orders] = await world.sql<{ confirmed: number; other: number }[]>`
    select count(*) filter (where status = 'confirmed')::int as confirmed, count(*) filter (where status <> 'confirmed')::int as other from orders`;
  const [mail] = await world.sql<{ n: number }[]>`select count(*)::int as n from notifications where event_type = 'order.confirmed'`;
  const [stats] = await world.sql<{ created: number; confirmed: number }[]>`select orders_created as created, orders_confirmed as confirmed from tenant_stats where tenant_id = ${TENANT}`;
  const problems = [
    orders!.confirmed !== n || orders!.other !== 0 ? `orders: ${orders!.confirmed} confirmed, ${orders!.other} not, of ${n}` : "",
    mail!.n !== n ? `notifications: ${mail!.n}, expected ${n}` : "",
    stats?.created !== n || stats?.confirmed !== n ? `tenant_stats: created ${stats?.created}, confirmed ${stats?.confirmed}, expected ${n}` : "",
  ].filter(Boolean);
  if (problems.length) throw new Error(`order mix ${side}: ${problems.join("; ")}`);
}
