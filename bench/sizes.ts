/** How big each scenario is: the full run (BENCHMARKS.md) and --quick (CI: the harness still works). */
export interface Sizes {
  /** The shipped handlers: user.created sign-ups of one tenant, inserted by SQL. */
  shipped: { events: number; peerConcurrency: number[] };
  /** Orders through the HTTP API, one tenant, until each is through the shipped handlers. */
  /**
   * The shipped burst with each partition count, on the single Redis and (with `cluster`) on a
   * local three-master Redis Cluster, `rounds` times in turn.
   */
  partitions: { events: number; counts: number[]; rounds: number; cluster: boolean };
  orderMix: { orders: number; connections: number; products: number; peerConcurrency: number[] };
  burst: { events: number; batchSize: number; peerConcurrency: number[]; peerScanMs: number };
  latency: { rate: number; seconds: number; slowScanMs: number; fairScanMs: number; peerConcurrency: number };
  limits: { redisEntries: number; pgClients: number; pgSeconds: number; relayRows: number };
  http: { seconds: number; connections: number; products: number };
  /** A side that handles nothing for this long has failed. */
  stallMs: number;
}

/** What one run does: the sizes, and our configuration (shipped defaults plus `--set` overrides). */
export interface Plan {
  size: Sizes;
  /** `--set KEY=VALUE` overrides of our configuration; empty for the published numbers. */
  oursEnv: Record<string, string>;
  /** PostgreSQL connections per side: our DATABASE_POOL_SIZE, given to the peer as well. */
  poolSize: number;
}

export const FULL: Sizes = {
  shipped: { events: 20_000, peerConcurrency: [16, 64, 256] },
  partitions: { events: 20_000, counts: [1, 4, 16], rounds: 3, cluster: true },
  orderMix: { orders: 3_000, connections: 32, products: 20, peerConcurrency: [16, 64] },
  burst: { events: 50_000, batchSize: 500, peerConcurrency: [16, 64, 256], peerScanMs: 100 },
  latency: { rate: 1_000, seconds: 30, slowScanMs: 5_000, fairScanMs: 100, peerConcurrency: 64 },
  limits: { redisEntries: 200_000, pgClients: 8, pgSeconds: 10, relayRows: 50_000 },
  http: { seconds: 30, connections: 50, products: 5 },
  stallMs: 60_000,
};

export const QUICK: Sizes = {
  shipped: { events: 1_000, peerConcurrency: [64] },
  partitions: { events: 1_000, counts: [1, 4], rounds: 1, cluster: true },
  orderMix: { orders: 200, connections: 16, products: 5, peerConcurrency: [64] },
  burst: { events: 2_000, batchSize: 500, peerConcurrency: [16, 64, 256], peerScanMs: 100 },
  latency: { rate: 1_000, seconds: 2, slowScanMs: 1_000, fairScanMs: 100, peerConcurrency: 64 },
  limits: { redisEntries: 20_000, pgClients: 8, pgSeconds: 1, relayRows: 5_000 },
  http: { seconds: 3, connections: 10, products: 3 },
  stallMs: 20_000,
};
