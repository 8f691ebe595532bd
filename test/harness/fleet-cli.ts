// `bun run fleet [--orders N] [--seed S] [--concurrency C] [--partitions N] [--cluster]`: the fleet
// run at full size, on its own schema and key prefix (removed afterwards, pass or fail), on the
// shared Redis or with --cluster a private three-master Redis Cluster, one master of which is also
// restarted without its data midway. Prints a summary table; exits 1 on any mismatch.
import { parseArgs } from "node:util";
import { createTestContext } from "../support/context.ts";
import { killProcesses } from "../support/process.ts";
import { startChaosRedisCluster, type ChaosRedis } from "./chaos-infra.ts";
import { runFleetScenario } from "./scenario.ts";
import { mulberry32 } from "./workload.ts";

const { values } = parseArgs({
  options: {
    orders: { type: "string", default: "5000" },
    seed: { type: "string", default: "1" },
    concurrency: { type: "string", default: "32" },
    /** STREAM_PARTITIONS of every process. */
    partitions: { type: "string" },
    cluster: { type: "boolean", default: false },
  },
});
const number = (name: string, value: string | undefined) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name} must be a whole number above 0, got ${value}`);
    process.exit(2);
  }
  return n;
};
const orders = number("orders", values.orders);
const seed = number("seed", values.seed);
const concurrency = number("concurrency", values.concurrency);
const partitions = values.partitions === undefined ? undefined : number("partitions", values.partitions);
if (partitions !== undefined && partitions > 1024) {
  console.error(`--partitions must be at most 1024, got ${partitions}`);
  process.exit(2);
}

const log = (line: string) => console.log(`[fleet ${new Date().toISOString().slice(11, 19)}] ${line}`);
const cluster: ChaosRedis | null = values.cluster ? await startChaosRedisCluster() : null;
const ctx = await createTestContext({ clusterNodes: cluster?.env.REDIS_CLUSTER_NODES });
log(`schema test_${ctx.prefix}, prefix ${ctx.prefix}${cluster ? `, ${cluster.description}` : ""}`);
// Ctrl-C: the children, the schema and the cluster go too.
process.once("SIGINT", async () => {
  await killProcesses();
  await ctx.cleanup().catch(() => {});
  await cluster?.stop();
  process.exit(130);
});
let failed = true;
try {
  const loseShard = cluster ? () => cluster.loseData(0, mulberry32(seed)) : undefined;
  const result = await runFleetScenario(ctx, { orders, seed, concurrency, partitions, loseShard, log });
  console.log(result.summary);
  for (const problem of result.problems.slice(0, 50)) console.log(`  - ${problem}`);
  if (result.problems.length > 50) console.log(`  ... and ${result.problems.length - 50} more`);
  failed = result.problems.length > 0;
} catch (err) {
  console.error(`fleet run failed: ${(err as Error).stack ?? err}`);
} finally {
  await killProcesses();
  await ctx.cleanup().catch((err) => console.error(`cleanup failed: ${(err as Error).message}`));
  await cluster?.stop().catch((err) => console.error(`stopping the Redis Cluster failed: ${(err as Error).message}`));
}
process.exit(failed ? 1 : 0);
