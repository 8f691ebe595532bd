import type { Sql } from "../db.ts";
import { partitionOf } from "../partitions/hash.ts";
import type { Layout } from "../partitions/layout.ts";
import { checkFenceSql, type PartitionRef } from "./fence.ts";
import { advanceKey, parkKey, type KeyRef, type Redriver } from "./parking.ts";

/**
 * Run by a new owner of a partition before any of its entries, to finish what the previous owner
 * may have left half done when it died:
 * - an entry dead-lettered (and acked) whose key was not parked yet: the key is parked now, before
 *   any later event of it can run (behind its re-drive, when an operator retried it meanwhile);
 * - a released key whose last re-driven event ran but which was not moved on: it is moved on
 *   (its waiting events re-driven, or the key freed).
 * Only keys of this partition (by the current layout) are touched.
 */
export async function repairPartition(sql: Sql, fence: PartitionRef, generation: number, layout: Layout, redriver: Redriver): Promise<void> {
  const count = layout.count(fence.eventType);
  const here = (key: string) => partitionOf(key, count) === fence.partition;
  const letters = await sql<{ id: string; event_id: string; aggregate_id: string | null; tenant_id: string | null; payload: string }[]>`
    select d.id, d.event_id, d.aggregate_id, d.tenant_id, d.payload from dead_letters d
    where d.handler = ${fence.handler} and d.event_type = ${fence.eventType} and d.status in ('open', 'retried') and d.event_id is not null
      and not exists (select 1 from parked_keys k where k.dead_letter_id = d.id)
      and not exists (select 1 from processed_events p where p.handler = d.handler and p.event_id = d.event_id)
    order by d.failed_at, d.id`;
  for (const l of letters) {
    const key = layout.keyOf({
      id: l.event_id, type: fence.eventType, aggregateId: l.aggregate_id, tenantId: l.tenant_id,
      payload: () => JSON.parse(l.payload),
    });
    if (key === null || !here(key)) continue;
    const ref: KeyRef = { handler: fence.handler, eventType: fence.eventType, key };
    await sql.begin(async (tx) => {
      await checkFenceSql(tx, fence, generation);
      await parkKey(tx, ref, l.event_id);
    });
  }
  const released = await sql<{ partition_key: string }[]>`
    select k.partition_key from parked_keys k
    where k.handler = ${fence.handler} and k.event_type = ${fence.eventType}
      and not exists (select 1 from dead_letters d where d.id = k.dead_letter_id and d.status = 'open')
      and not exists (
        select 1 from parked_events e
        where e.handler = k.handler and e.event_type = k.event_type and e.partition_key = k.partition_key and e.redriven)`;
  for (const { partition_key: key } of released) {
    if (!here(key)) continue;
    await sql.begin(async (tx) => {
      await checkFenceSql(tx, fence, generation);
      await advanceKey(tx, { handler: fence.handler, eventType: fence.eventType, key }, redriver);
    });
  }
}
