// The fleet run in short (`bun run fleet` is the full one): three real service processes on one
// schema and prefix, orders with payments and cancellations through their HTTP APIs, one process
// SIGKILLed and one SIGTERMed midway (both restarted under their names), then every order's final
// status, stock, tenant counters and notifications exact, nothing dead-lettered. On a single Redis
// with one partition per type; under `bun run test:cluster`, on the cluster with four.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { createTestContext, TEST_REDIS_CLUSTER_NODES, type TestContext } from "./support/context.ts";
import { killProcesses } from "./support/process.ts";
import { expectedEvents, expectedOrder, expectedStock, expectedTenantStats } from "./harness/invariants.ts";
import { runFleetScenario } from "./harness/scenario.ts";
import { planWorkload, type Product } from "./harness/workload.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(async () => {
  await killProcesses();
  await ctx.cleanup();
});

const onCluster = !!TEST_REDIS_CLUSTER_NODES;

test.skipIf(onCluster)("three processes, one SIGKILLed and one SIGTERMed midway, end with every effect applied exactly once", async () => {
  const result = await runFleetScenario(ctx, { orders: 300, drainTimeoutMs: 25_000 });
  if (result.problems.length > 0) console.log(`${result.summary}\n${result.problems.slice(0, 30).join("\n")}`);
  expect(result.problems).toEqual([]);
}, 55_000);

test.skipIf(!onCluster)("on the Redis Cluster with every event type in four partitions, the same run ends with every effect applied exactly once", async () => {
  const result = await runFleetScenario(ctx, { orders: 300, drainTimeoutMs: 25_000, partitions: 4 });
  if (result.problems.length > 0) console.log(`${result.summary}\n${result.problems.slice(0, 30).join("\n")}`);
  expect(result.summary).toContain("4 partitions per event type");
  // The relay spread the orders' events over the partitions (by aggregate id, an order id each).
  const [spread] = await ctx.sql<{ parts: number }[]>`select count(distinct coalesce(stream_partition, 0))::int as parts from outbox where event_type = 'order.created'`;
  expect(spread!.parts).toBe(4);
  expect(result.problems).toEqual([]);
}, 55_000);

test("the plan's expectations follow the handlers' rules", () => {
  const products: Product[] = [
    { id: "p-ample", tenantId: "shop", sku: "a", priceCents: 1000, initialStock: 100 },
    { id: "p-ample-2", tenantId: "shop", sku: "b", priceCents: 250, initialStock: 100 },
    { id: "p-none", tenantId: "shop", sku: "c", priceCents: 500, initialStock: 0 },
  ];
  const w = planWorkload({ tenants: ["shop"], products }, "run", 200, 7);
  expect(new Set(w.orders.map((o) => o.kind)).size).toBe(11); // every kind appears

  const paidTwice = w.orders.find((o) => o.kind === "paidTwice")!;
  expect(expectedOrder(paidTwice)).toEqual({ status: "paid", reason: null, payments: 2, applied: 1, failed: 0, refunds: ["order_already_paid"], refundCents: paidTwice.totalCents });
  expect(expectedOrder(w.orders.find((o) => o.kind === "cancelledPaid")!).status).toBe("cancelled");

  // Stock: only confirmed and paid orders hold any; the sold-out product never moves.
  const held = w.orders.filter((o) => ["confirmed", "paid"].includes(expectedOrder(o).status)).flatMap((o) => o.items).filter((l) => l.productId === "p-ample").reduce((n, l) => n + l.quantity, 0);
  expect(expectedStock(w).get("p-ample")).toBe(100 - held);
  expect(expectedStock(w).get("p-none")).toBe(0);

  // Revenue is net: a paid order that was cancelled counts in ordersPaid but its money went back.
  const stats = expectedTenantStats(w, "shop");
  const paidKept = w.orders.filter((o) => expectedOrder(o).status === "paid");
  expect(stats.revenue).toBe(paidKept.reduce((n, o) => n + o.totalCents, 0) / 100);
  expect(stats.ordersPaid).toBe(paidKept.length + w.orders.filter((o) => o.kind === "cancelledPaid").length);
  expect(stats.ordersCreated).toBe(200);
  expect(expectedEvents(w)["order.cancellation_completed"]).toBe(stats.ordersCancelled);
});
