// A local three-master Redis Cluster for the benchmark, from the machine's redis-server on free
// ports (test/support/redis-cluster.ts), registered for cleanup like everything else a run makes.
import type Redis from "ioredis";
import { createRedisCluster } from "../../src/engine/index.ts";
import { startRedisCluster } from "../../test/support/redis-cluster.ts";
import { deferCleanup, throwIfInterrupted } from "./cleanup.ts";

export interface BenchCluster {
  /** `host:port,...`, as REDIS_CLUSTER_NODES takes it. */
  spec: string;
  /** A new client of the cluster with the engine's policy, not connected yet. */
  connect(): Redis;
  stop(): Promise<void>;
}

export async function startBenchCluster(): Promise<BenchCluster> {
  throwIfInterrupted();
  const cluster = await startRedisCluster({ masters: 3 }).catch((err: Error) => {
    throw new Error(`could not start a local Redis Cluster (needs redis-server and redis-cli on PATH): ${err.message}`);
  });
  const stop = deferCleanup(`Redis Cluster ${cluster.spec}`, () => cluster.stop());
  return { spec: cluster.spec, connect: () => createRedisCluster(cluster.nodes), stop };
}
