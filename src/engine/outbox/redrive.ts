import type Redis from "ioredis";
import type { Q } from "../db.ts";
import { keys } from "../redis/keys.ts";
import { readTraceContexts, type OutboxRow } from "./claim.ts";
import { SINGLE_PARTITION, type Layout } from "../partitions/layout.ts";
import { keyedRow, publishRows } from "./publish.ts";

/**
 * Publishes rows for `handler` only (entries with `target`; the event's other handlers ack them
 * without running), each to its partition under `layout`, and records each entry, with its stream
 * and a copy of its event, in `redrives`, so that such an entry deleted from its stream while
 * pending can be re-driven again like any other. Returns the new entry ids in row order.
 */
export async function publishFor(q: Q, redis: Redis, prefix: string, handler: string, rows: OutboxRow[], layout: Layout = SINGLE_PARTITION): Promise<string[]> {
  if (rows.length === 0) return [];
  const entryIds = await publishRows(redis, prefix, await withTraceContexts(q, rows), handler, layout);
  await q`
    insert into redrives ${q(rows.map((r, i) => ({
      stream: keys.stream(prefix, r.event_type, layout.partitionOf(keyedRow(r))), entry_id: entryIds[i]!, handler, event_id: r.id, event_type: r.event_type,
      aggregate_id: r.aggregate_id, tenant_id: r.tenant_id, payload: r.payload, created_at: new Date(r.created_at).toISOString(),
    })))}
    on conflict do nothing`;
  return entryIds;
}

/** Rows rebuilt from other records (a dead letter, a re-drive's copy, a recovery page) get their stored trace context back, so the re-driven run links to it. */
async function withTraceContexts(q: Q, rows: OutboxRow[]): Promise<OutboxRow[]> {
  const missing = rows.filter((r) => r.traceparent === undefined).map((r) => r.id);
  if (missing.length === 0) return rows;
  const found = await readTraceContexts(q, missing);
  return found.size === 0 ? rows : rows.map((r) => ({ ...r, ...found.get(r.id) }));
}

/** The event a targeted entry of `stream` (a partition's full key) was published from, with the handler it was meant for, or undefined. */
export async function findRedrive(q: Q, stream: string, entryId: string): Promise<{ handler: string; row: OutboxRow } | undefined> {
  const [r] = await q<{ handler: string; event_id: string; event_type: string; aggregate_id: string | null; tenant_id: string | null; payload: string; created_ms: number }[]>`
    select handler, event_id, event_type, aggregate_id, tenant_id, payload, (extract(epoch from created_at) * 1000)::float8 as created_ms
    from redrives where stream = ${stream} and entry_id = ${entryId}`;
  return r && {
    handler: r.handler,
    row: { id: r.event_id, event_type: r.event_type, aggregate_id: r.aggregate_id, tenant_id: r.tenant_id, payload: r.payload, created_at: new Date(r.created_ms) },
  };
}

/** Forgets re-drives recorded more than `retentionMs` ago (their entries were handled or trimmed long since). */
export async function deleteOldRedrives(q: Q, retentionMs: number, limit = 5_000): Promise<number> {
  const cutoff = new Date(Date.now() - retentionMs).toISOString();
  const [row] = await q<{ n: number }[]>`
    with doomed as (select stream, entry_id from redrives where recorded_at < ${cutoff}::timestamptz limit ${limit}),
    gone as (delete from redrives r using doomed d where r.stream = d.stream and r.entry_id = d.entry_id returning 1)
    select count(*)::int as n from gone`;
  return row?.n ?? 0;
}
