// The goals the engine is measured against. Reported as target / measured / met; never asserted.
import type { BurstResult } from "./scenarios/burst.ts";
import type { OrderMixResult } from "./scenarios/order-mix.ts";
import type { ShippedResult } from "./scenarios/shipped.ts";
import type { PartitionConfig, PartitionsResult } from "./scenarios/partitions.ts";
import type { HttpResult } from "./scenarios/http.ts";
import type { LatencyResult } from "./scenarios/latency.ts";
import type { LimitsResult } from "./scenarios/limits.ts";

export interface TargetCheck {
  target: string;
  measured: string;
  /** Null when the scenario did not run (--only) or failed. */
  met: boolean | null;
}

interface Measured {
  shipped?: ShippedResult;
  partitions?: PartitionsResult;
  orders?: OrderMixResult;
  burst?: BurstResult;
  latency?: LatencyResult;
  limits?: LimitsResult;
  http?: HttpResult;
}

export function evaluateTargets(r: Measured): TargetCheck[] {
  const noop = r.burst?.summary.find((s) => s.kind === "noop");
  const pg = r.burst?.summary.find((s) => s.kind === "pg");
  const relay = r.limits?.runs.find((x) => x.name === "our relay alone");
  const ours = r.latency?.runs.find((x) => x.side === "ours");
  const check = (target: string, value: number | undefined, goal: (v: number) => boolean, show: (v: number) => string): TargetCheck =>
    value === undefined ? { target, measured: "not run", met: null } : { target, measured: show(value), met: goal(value) };
  const n = (v: number) => v.toLocaleString("en-US");
  return [
    check("shipped-handler burst: >= 10,000 events/s (each by both handlers)", r.shipped?.ours.perSecond, (v) => v >= 10_000, (v) => `${n(v)}/s`),
    check("shipped-handler burst: >= 3x BullMQ", r.shipped?.ratio, (v) => v >= 3, (v) => `${v}x (${n(r.shipped!.ours.perSecond)} vs ${n(r.shipped!.peer.perSecond)}/s)`),
    partitionCost(r.partitions, "single", "partitioning, single Redis: 4 and 16 partitions cost <= 10 % against 1 partition"),
    partitionCost(r.partitions, "cluster", "partitioning, Redis Cluster: 1, 4 and 16 partitions cost <= 10 % against 1 partition on a single Redis"),
    check("order mix through the HTTP API: faster than BullMQ", r.orders?.ratio, (v) => v > 1, (v) => `${v}x (${n(r.orders!.ours.ordersPerSecond)} vs ${n(r.orders!.peer.ordersPerSecond)} orders/s)`),
    check("burst, no-op: >= 2x BullMQ", noop?.ratio, (v) => v >= 2, (v) => `${v}x (${n(noop!.ours.perSecond)} vs ${n(noop!.peer.perSecond)}/s)`),
    check("burst, PostgreSQL effect: >= 2x BullMQ", pg?.ratio, (v) => v >= 2, (v) => `${v}x (${n(pg!.ours.perSecond)} vs ${n(pg!.peer.perSecond)}/s)`),
    check("burst, PostgreSQL effect: >= 10,000 events/s end to end", pg?.ours.perSecond, (v) => v >= 10_000, (v) => `${n(v)}/s`),
    check("burst, no-op: >= 30,000 events/s", noop?.ours.perSecond, (v) => v >= 30_000, (v) => `${n(v)}/s`),
    check("relay alone: >= 30,000 rows/s", relay?.perSecond, (v) => v >= 30_000, (v) => `${n(v)}/s`),
    check(`commit-to-handler-start p99 <= 25 ms at ${n(r.latency?.rate ?? 1000)}/s`, ours?.latencyMs.p99, (v) => v <= 25, (v) => `${v} ms`),
    check("service peak memory (VmHWM) <= 150 MB", r.http?.peakMemoryMb, (v) => v <= 150, (v) => `${v} MB`),
  ];
}

/** The costliest configuration of `redis` other than the baseline, against 1 partition on the single Redis. */
function partitionCost(r: PartitionsResult | undefined, redis: PartitionConfig["redis"], target: string): TargetCheck {
  const configs = r?.configs.filter((c) => c.redis === redis && !(redis === "single" && c.partitions === 1)) ?? [];
  if (!r || configs.length === 0) return { target, measured: redis === "cluster" && r?.clusterSkipped ? `not run (${r.clusterSkipped})` : "not run", met: null };
  const worst = configs.reduce((a, b) => (b.costPct > a.costPct ? b : a));
  const each = configs.map((c) => `${c.partitions}: ${c.costPct > 0 ? "+" : ""}${c.costPct} %`).join(", ");
  return { target, measured: `worst ${worst.costPct} % at ${worst.partitions} partition${worst.partitions === 1 ? "" : "s"} (${each}; cost = slower than ${r.baseline.toLocaleString("en-US")}/s)`, met: worst.costPct <= 10 };
}
