import type Redis from "ioredis";
import type { Sql } from "../db/client.ts";
import { publishRows } from "../streams/publisher.ts";
import { claimOutboxBatch, markPublished } from "./claim.ts";

export interface RelayDeps {
  sql: Sql;
  redis: Redis;
  prefix: string;
  batchSize: number;
}

/**
 * Publishes one batch: claim (FOR UPDATE SKIP LOCKED), XADD in one pipeline, mark published,
 * commit. Returns how many rows it published. A crash between XADD and commit publishes those
 * rows again on the next run; consumers absorb the duplicates.
 */
export async function relayBatch({ sql, redis, prefix, batchSize }: RelayDeps): Promise<number> {
  return sql.begin(async (tx) => {
    const rows = await claimOutboxBatch(tx, batchSize);
    if (rows.length === 0) return 0;
    const streamIds = await publishRows(redis, prefix, rows);
    await markPublished(tx, rows.map((r) => r.id), streamIds);
    return rows.length;
  });
}

/** Publishes batches until one comes back short of full, so a backlog drains in one run. */
export async function drainOutbox(deps: RelayDeps, shouldStop: () => boolean = () => false): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await relayBatch(deps);
    total += n;
    if (n < deps.batchSize || shouldStop()) return total;
  }
}
