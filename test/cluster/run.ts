// `bun run test:cluster`: the delivery suite once more, on a real local Redis Cluster (three
// masters from the machine's own redis-server), through the tests' one switch,
// TEST_REDIS_CLUSTER_NODES (test/support/context.ts). Extra arguments replace the file list.
import { startRedisCluster } from "../support/redis-cluster.ts";

/**
 * The cluster's own checks; delivery, retries and exactly-once effects; dead letters; partitions;
 * ordered handlers; recovery of one lost partition; and the fleet run (three processes, SIGKILL and
 * SIGTERM, four partitions per type). The rest of the suite runs on a single Redis only; the
 * Redis it touches is the same commands on one key or one slot.
 */
export const DELIVERY_SUITE = [
  "test/cluster.test.ts",
  "test/delivery.test.ts",
  "test/dead-letter-guarantees.test.ts",
  "test/dlq.test.ts",
  "test/partitions.test.ts",
  "test/ordering.test.ts",
  "test/recovery-partitions-engine.test.ts",
  "test/fleet.test.ts",
];

const files = process.argv.slice(2);
const cluster = await startRedisCluster();
console.log(`Redis Cluster on ${cluster.spec}`);
let child: ReturnType<typeof Bun.spawn> | undefined;
const stop = async (code: number) => {
  child?.kill();
  await cluster.stop();
  process.exit(code);
};
process.on("SIGINT", () => void stop(130));
process.on("SIGTERM", () => void stop(143));

child = Bun.spawn(["bun", "test", "--timeout", "30000", ...(files.length ? files : DELIVERY_SUITE)], {
  env: { ...process.env, TEST_REDIS_CLUSTER_NODES: cluster.spec },
  stdin: "inherit", stdout: "inherit", stderr: "inherit",
});
await stop(await child.exited);
