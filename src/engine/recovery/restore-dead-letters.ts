import type Redis from "ioredis";
import type { Sql } from "../db.ts";
import { addCopies, removeCopyEntries } from "../dead-letters/copies.ts";
import { columns, setCopyEntryId, type DeadLetterRow } from "../dead-letters/row.ts";
import { keys } from "../redis/keys.ts";

const PAGE = 500;

/**
 * Gives every open dead letter its Redis copy back (`<prefix>:dlq` and `dlq-counts`) when Redis
 * lost it: PostgreSQL's `dead_letters` is the durable record. A copy that still exists is kept.
 * The row is pointed at the new copy only if nobody changed it meanwhile (retried, deleted, or
 * its own dead-lettering finished); otherwise the new copy is removed again. Returns how many
 * copies were restored.
 */
export async function restoreDeadLetterCopies(sql: Sql, redis: Redis, prefix: string, signal?: AbortSignal): Promise<number> {
  let restored = 0;
  let after: { failedAt: string; id: string } | null = null;
  while (!signal?.aborted) {
    const rows: (DeadLetterRow & { failed_key: string })[] = await sql<(DeadLetterRow & { failed_key: string })[]>`
      select ${columns(sql)}, to_char(failed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as failed_key
      from dead_letters where status = 'open'
        ${after ? sql`and (failed_at, id) > (${after.failedAt}::timestamptz, ${after.id}::uuid)` : sql``}
      order by failed_at, id limit ${PAGE}`;
    if (rows.length === 0) break;
    const named = rows.filter((r) => r.dlq_entry_id);
    const pipeline = redis.pipeline();
    for (const r of named) pipeline.xrange(keys.deadLetters(prefix), r.dlq_entry_id!, r.dlq_entry_id!);
    const replies = named.length ? ((await pipeline.exec()) ?? []) : [];
    const present = new Set(named.filter((_, i) => {
      const [err, entries] = replies[i] ?? [new Error("no reply"), null];
      return !err && (entries as unknown[]).length > 0;
    }).map((r) => r.id));
    const missing = rows.filter((r) => !present.has(r.id));
    const copies = await addCopies(redis, prefix, missing);
    for (const [i, r] of missing.entries()) {
      if (await setCopyEntryId(sql, r.id, r.dlq_entry_id, copies[i]!)) restored++;
      else await removeCopyEntries(redis, prefix, [{ dlqEntryId: copies[i]!, eventType: r.event_type }]);
    }
    const last = rows[rows.length - 1]!;
    after = { failedAt: last.failed_key, id: last.id };
    if (rows.length < PAGE) break;
  }
  return restored;
}
