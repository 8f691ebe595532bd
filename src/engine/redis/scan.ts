import type Redis from "ioredis";
import type { Cluster } from "ioredis";
import { isCluster } from "./client.ts";

export interface ScanOptions {
  /** Only keys of this type (SCAN ... TYPE, Redis 6+). */
  type?: string;
  /** The COUNT hint of each SCAN; defaults to 500. */
  count?: number;
}

/**
 * Every key matching `pattern`, found with SCAN (a large keyspace costs a few round trips, never
 * a KEYS). On a Redis Cluster, SCAN sees one node's keys only, so every master is scanned; a
 * key that moves between nodes during the scan may be missed or seen twice, as SCAN itself allows
 * for a key that changes during it.
 */
export async function scanAll(redis: Redis, pattern: string, { type, count = 500 }: ScanOptions = {}): Promise<string[]> {
  const nodes = isCluster(redis) ? await masters(redis as unknown as Cluster) : [redis];
  const found = new Set<string>();
  await Promise.all(nodes.map(async (node) => {
    let cursor = "0";
    do {
      const args = ["MATCH", pattern, ...(type ? ["TYPE", type] : []), "COUNT", String(count)];
      const [next, batch] = (await node.call("SCAN", cursor, ...args)) as [string, string[]];
      cursor = next;
      for (const key of batch) found.add(key);
    } while (cursor !== "0");
  }));
  return [...found];
}

/** The cluster's masters; throws when one that serves slots cannot be reached (it is down). */
async function masters(cluster: Cluster): Promise<Redis[]> {
  if (cluster.status !== "ready") await cluster.ping();
  for (let refreshed = false; ; refreshed = true) {
    const nodes = cluster.nodes("master");
    const known = new Set(nodes.map((n) => `${n.options.host}:${n.options.port}`));
    const missing = [...new Set(cluster.slots.map((owners) => owners?.[0]))].filter((key): key is string => !!key && !known.has(key));
    if (missing.length === 0) return nodes;
    // A node whose connection was dropped (it restarted) is connected again by a refresh of the slots.
    if (refreshed) throw new Error(`cannot scan Redis Cluster node ${missing.join(", ")}: not connected`);
    await new Promise<void>((resolve) => cluster.refreshSlotsCache(() => resolve()));
  }
}
