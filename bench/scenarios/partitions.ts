// Scenario 0c: what partitioning costs. The shipped-handler burst (scenario 0: one tenant's
// user.created sign-ups inserted by SQL, notifications and analytics) with 1, 4 and 16 partitions
// per type, on the single Redis and on a local three-master Redis Cluster, in one run. The
// configurations take turns, round after round, so a noisy neighbour hits them all alike; each
// one's median counts. Partitioning must not cost more than 10 % against 1 partition on a single Redis.
import type Redis from "ioredis";
import type { Plan } from "../sizes.ts";
import { startBenchCluster } from "../support/cluster.ts";
import { round } from "../support/stats.ts";
import type { World } from "../support/world.ts";
import { burstOurs, type ShippedRun } from "./shipped.ts";

export type RedisKind = "single" | "cluster";

export const REDIS_LABEL: Record<RedisKind, string> = { single: "single Redis", cluster: "Redis Cluster, 3 masters" };

export interface PartitionRun extends Omit<ShippedRun, "side" | "setup"> {
  redis: RedisKind;
  partitions: number;
  round: number;
  /** Outbox rows per partition the relay published to: fewest and most. */
  spread: { min: number; max: number };
}

export interface PartitionConfig {
  redis: RedisKind;
  partitions: number;
  /** Median over the rounds. */
  perSecond: number;
  /** Every round's events/s, in order. */
  rounds: number[];
  /** How much slower than 1 partition on the single Redis, in % of it (negative: faster). */
  costPct: number;
}

export interface PartitionsResult {
  events: number;
  rounds: number;
  /** The partition key of user.created: its aggregate id, a user id each. */
  key: string;
  runs: PartitionRun[];
  configs: PartitionConfig[];
  /** 1 partition on the single Redis, median events/s: what the cost is measured against. */
  baseline: number;
  /** Why the cluster part did not run, when it did not. */
  clusterSkipped: string | null;
}

const EVENT_TYPE = "user.created";

export async function runPartitions(plan: Plan): Promise<PartitionsResult> {
  const { counts, rounds, cluster: withCluster } = plan.size.partitions;
  const targets: { kind: RedisKind; redis?: () => Redis }[] = [{ kind: "single" }];
  const cluster = withCluster ? await startBenchCluster() : null;
  try {
    if (cluster) targets.push({ kind: "cluster", redis: cluster.connect });
    const runs: PartitionRun[] = [];
    for (let r = 1; r <= rounds; r++) {
      for (const target of targets) {
        for (const partitions of counts) {
          const run = await burstPartitioned(plan, target.kind, target.redis, partitions, r);
          console.log(`   round ${r}, ${REDIS_LABEL[target.kind]}, ${partitions} partition${partitions === 1 ? "" : "s"}: ${run.perSecond} events/s`);
          runs.push(run);
        }
      }
    }
    const median = (values: number[]) => {
      const s = [...values].sort((a, b) => a - b);
      return s.length % 2 ? s[(s.length - 1) / 2]! : Math.round((s[s.length / 2 - 1]! + s[s.length / 2]!) / 2);
    };
    const configs = targets.flatMap((t) => counts.map((partitions) => {
      const mine = runs.filter((x) => x.redis === t.kind && x.partitions === partitions).map((x) => x.perSecond);
      return { redis: t.kind, partitions, perSecond: median(mine), rounds: mine, costPct: 0 };
    }));
    const baseline = configs.find((c) => c.redis === "single" && c.partitions === 1)?.perSecond ?? configs[0]!.perSecond;
    for (const c of configs) c.costPct = round((100 * (baseline - c.perSecond)) / Math.max(1, baseline), 1);
    return {
      events: plan.size.partitions.events, rounds, key: "aggregate id (user-<n>: one per sign-up)", runs, configs, baseline,
      clusterSkipped: withCluster ? null : "switched off in bench/sizes.ts",
    };
  } finally {
    await cluster?.stop();
  }
}

async function burstPartitioned(plan: Plan, kind: RedisKind, redis: (() => Redis) | undefined, partitions: number, r: number): Promise<PartitionRun> {
  let spread = { min: 0, max: 0 };
  const sized: Plan = { ...plan, size: { ...plan.size, shipped: { ...plan.size.shipped, events: plan.size.partitions.events } } };
  const run = await burstOurs(sized, {
    label: `part-${kind}-${partitions}`,
    env: { STREAM_PARTITIONS: String(partitions), STREAM_PARTITIONS_BY_TYPE: "" },
    redis,
    inspect: async (world) => {
      spread = await readSpread(world, partitions);
    },
  });
  const { side: _side, setup: _setup, ...measured } = run;
  return { ...measured, redis: kind, partitions, round: r, spread };
}

/**
 * Rows per partition, from the outbox (the relay records each row's partition). Every partition
 * must have had some: a burst that all went to one partition would measure nothing.
 */
async function readSpread(world: World, partitions: number): Promise<{ min: number; max: number }> {
  const rows = await world.sql<{ part: number; n: number }[]>`
    select coalesce(stream_partition, 0)::int as part, count(*)::int as n from outbox where event_type = ${EVENT_TYPE} group by 1`;
  const per = Array.from({ length: partitions }, (_, p) => rows.find((row) => row.part === p)?.n ?? 0);
  const stray = rows.filter((row) => row.part >= partitions);
  if (stray.length) throw new Error(`partitions: rows published to partition ${stray[0]!.part} of ${partitions}`);
  if (Math.min(...per) === 0) throw new Error(`partitions: the burst did not spread over ${partitions} partitions (rows per partition: ${per.join(", ")})`);
  return { min: Math.min(...per), max: Math.max(...per) };
}
