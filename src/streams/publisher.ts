import type Redis from "ioredis";
import type { OutboxRow } from "../outbox/claim.ts";
import { encodeEvent } from "./entry.ts";
import { keys } from "./keys.ts";

/**
 * XADDs each row to `<prefix>:<event_type>` in one pipeline and returns the new entry ids in
 * row order. Throws if any XADD failed; rows are then left unpublished and retried, and the
 * entries that did get in are absorbed as duplicates by the consumers.
 */
export async function publishRows(redis: Redis, prefix: string, rows: OutboxRow[], target?: string): Promise<string[]> {
  const pipeline = redis.pipeline();
  for (const row of rows) {
    const fields = encodeEvent({
      id: row.id,
      type: row.event_type,
      aggregateId: row.aggregate_id,
      tenantId: row.tenant_id,
      occurredAt: new Date(row.created_at).toISOString(),
      payload: row.payload,
      target: target ?? null,
    });
    pipeline.xadd(keys.stream(prefix, row.event_type), "*", ...fields);
  }
  const results = (await pipeline.exec()) ?? [];
  return results.map(([err, id], i) => {
    if (err) throw err;
    if (typeof id !== "string") throw new Error(`XADD for outbox row ${rows[i]?.id} returned no id`);
    return id;
  });
}
