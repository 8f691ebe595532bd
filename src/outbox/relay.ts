import type Redis from "ioredis";
import type { Sql } from "../db/client.ts";
import { xaddRows } from "../streams/publisher.ts";
import { claimOutboxBatch, markPublished, type OutboxRow } from "./claim.ts";

/** Rows published per event type. */
export type PublishedCounts = Record<string, number>;

export interface RelayDeps {
  sql: Sql;
  redis: Redis;
  prefix: string;
  batchSize: number;
  /** Called after each batch commits, with its rows per event type (also when some of its rows failed). */
  onPublished?: (counts: PublishedCounts) => void;
}

/**
 * Publishes one batch: claim (FOR UPDATE SKIP LOCKED), XADD in one pipeline, mark published the
 * rows Redis accepted, commit. Returns how many rows it published, or, once the rows Redis
 * accepted are committed, throws if any XADD failed: only those rows stay unpublished, so a row
 * Redis refuses neither holds back nor re-publishes the rows batched with it. A crash between XADD
 * and commit publishes those rows again on the next run; consumers absorb the duplicates.
 */
export async function relayBatch({ sql, redis, prefix, batchSize, onPublished }: RelayDeps): Promise<number> {
  const { published, counts, failed } = await sql.begin(async (tx) => {
    const rows = await claimOutboxBatch(tx, batchSize);
    const results = rows.length === 0 ? [] : await xaddRows(redis, prefix, rows);
    const ids: string[] = [];
    const streamIds: string[] = [];
    const failed: { row: OutboxRow; err: Error }[] = [];
    const counts: PublishedCounts = {};
    rows.forEach((row, i) => {
      const result = results[i]!;
      if (result instanceof Error) {
        failed.push({ row, err: result });
      } else {
        ids.push(row.id);
        streamIds.push(result);
        counts[row.event_type] = (counts[row.event_type] ?? 0) + 1;
      }
    });
    if (ids.length > 0) await markPublished(tx, ids, streamIds);
    return { published: ids.length, counts, failed };
  });
  // Reported once committed, before a failure is thrown: these rows are out whatever follows.
  if (published > 0) onPublished?.(counts);
  const [first] = failed;
  if (first) {
    throw new Error(
      `XADD failed for ${failed.length} outbox row(s), first ${first.row.id} (${first.row.event_type}): ${first.err.message}`,
      { cause: first.err },
    );
  }
  return published;
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
