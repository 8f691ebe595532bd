// A local three-master Redis Cluster for the benchmark, from the machine's redis-server.
import type Redis from "ioredis";

export interface BenchCluster {
  /** A new client of the cluster with the engine's policy, not connected yet. */
  connect(): Redis;
  stop(): Promise<void>;
}

export async function startBenchCluster(): Promise<BenchCluster> {
  throw new Error("the Redis Cluster part needs the cluster support (createRedisCluster) not merged yet");
}
