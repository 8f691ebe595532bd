import type Redis from "ioredis";
import type { Sql } from "../db.ts";
import { SINGLE_PARTITION, type Layout } from "../partitions/layout.ts";
import { keyedRow, publishRows } from "../outbox/publish.ts";
import { publishFor } from "../outbox/redrive.ts";
import {
  findLostDeliveries, findRedriveEntries, listPublishedPage, stillUnsettled, type Pair, type PartitionScope, type Position, type PublishedRow,
} from "./find-lost.ts";

export interface RepublishDeps {
  sql: Sql;
  redis: Redis;
  prefix: string;
  /** Where an event published again goes: its partition under this layout. Defaults to SINGLE_PARTITION. */
  layout?: Layout;
  signal?: AbortSignal;
  pageSize?: number;
}

/**
 * Publishes again every row published up to `until` that a handler of `pairs` answers for, has
 * not settled, and whose entry its group will not deliver, a page at a time; with `targetedOnly`
 * always one entry per handler (for one handler joining, whose siblings must not run it again);
 * with `partitions`, only rows with an entry in those partitions (the others' streams are left
 * alone). Each goes to its partition under the current layout. Returns how many rows went out.
 */
export async function republishUndelivered(
  deps: RepublishDeps, pairs: Pair[], until: string, { targetedOnly = false, partitions }: { targetedOnly?: boolean; partitions?: PartitionScope } = {},
): Promise<number> {
  const { sql, redis, prefix, signal, pageSize = 500 } = deps;
  const handlersOf = new Map<string, number>();
  for (const s of pairs) handlersOf.set(s.eventType, targetedOnly ? Infinity : (handlersOf.get(s.eventType) ?? 0) + 1);
  const scope = partitions && { prefix, partitions };
  let republished = 0;
  let after: Position | null = null;
  while (pairs.length > 0 && !signal?.aborted) {
    const page: PublishedRow[] = await listPublishedPage(sql, pairs, after, until, pageSize, scope);
    if (page.length === 0) break;
    const lost = await stillUnsettled(sql, await findLostDeliveries(redis, prefix, page, await findRedriveEntries(sql, page)));
    republished += await publishAgain(deps, page.filter((r) => lost.has(r.id)), lost, handlersOf);
    const last = page[page.length - 1]!;
    after = { publishedAt: last.published_key, id: last.id };
    if (page.length < pageSize) break;
  }
  return republished;
}

/**
 * XADDs the rows again, each to its partition under the current layout: plain where every handler
 * of the type lost the event (and the row's stream_id and stream_partition then name the new
 * entry, so a deleted pending entry can still be traced to it), else targeted at each handler that
 * lost it (recorded in `redrives` with its stream). Returns how many rows went out.
 */
async function publishAgain(deps: RepublishDeps, rows: PublishedRow[], lost: Map<string, string[]>, handlersOf: Map<string, number>): Promise<number> {
  const { sql, redis, prefix, layout = SINGLE_PARTITION } = deps;
  if (rows.length === 0) return 0;
  const plain = rows.filter((r) => lost.get(r.id)!.length === handlersOf.get(r.event_type));
  const byHandler = new Map<string, PublishedRow[]>();
  for (const r of rows) {
    if (plain.includes(r)) continue;
    for (const h of lost.get(r.id)!) byHandler.set(h, [...(byHandler.get(h) ?? []), r]);
  }
  if (plain.length > 0) {
    const entryIds = await publishRows(redis, prefix, plain, undefined, layout);
    const partitions = plain.map((r) => layout.partitionOf(keyedRow(r)));
    await sql`
      update outbox o set stream_id = v.stream_id, stream_partition = nullif(v.part, 0)
      from unnest(${plain.map((r) => r.id)}::uuid[], ${entryIds}::text[], ${partitions}::int[]) as v(id, stream_id, part) where o.id = v.id`;
  }
  for (const [handler, group] of byHandler) await publishFor(sql, redis, prefix, handler, group, layout);
  return rows.length;
}
