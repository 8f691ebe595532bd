import type postgres from "postgres";

export interface OutboxRow {
  id: string;
  event_type: string;
  aggregate_id: string | null;
  tenant_id: string | null;
  /** The payload as stored JSON text: relayed as is, never parsed and re-serialised. */
  payload: string;
  created_at: Date;
}

type Q = postgres.Sql | postgres.TransactionSql;

/**
 * Locks up to `limit` unpublished rows, oldest first, skipping rows another relay holds, so
 * relays on several machines never claim the same row; rows of `skipTypes` are left for others.
 * Selects by published_at, never by
 * "id greater than the last seen": ids and timestamps commit out of order.
 */
export async function claimOutboxBatch(tx: Q, limit: number, skipTypes: readonly string[] = []): Promise<OutboxRow[]> {
  return tx<OutboxRow[]>`
    select id, event_type, aggregate_id, tenant_id, payload::text as payload, created_at
    from outbox
    where published_at is null ${skipTypes.length ? tx`and event_type <> all(${skipTypes as string[]}::text[])` : tx``}
    order by created_at
    limit ${limit}
    for update skip locked`;
}

/**
 * Marks rows published and remembers the stream entry each became. published_at is the clock
 * when the rows were marked, after their XADD (not the transaction's start): an entry that
 * reached its stream after a moment T always has published_at after T.
 */
export async function markPublished(tx: Q, ids: string[], streamIds: string[]): Promise<void> {
  await tx`
    update outbox o set published_at = clock_timestamp(), stream_id = v.stream_id
    from unnest(${ids}::uuid[], ${streamIds}::text[]) as v(id, stream_id)
    where o.id = v.id`;
}

/** The outbox row that a stream entry was published from; used when the entry itself was deleted. */
export async function findByStreamId(sql: Q, eventType: string, streamId: string): Promise<OutboxRow | undefined> {
  const [row] = await sql<OutboxRow[]>`
    select id, event_type, aggregate_id, tenant_id, payload::text as payload, created_at
    from outbox where event_type = ${eventType} and stream_id = ${streamId}`;
  return row;
}

export interface OutboxCounts {
  pending: number;
  published: number;
  oldestPendingAgeMs: number | null;
}

export async function countOutbox(sql: Q): Promise<OutboxCounts> {
  const [row] = await sql<{ pending: string; published: string; oldest: Date | null }[]>`
    select
      (select count(*) from outbox where published_at is null) as pending,
      (select count(*) from outbox where published_at is not null) as published,
      (select min(created_at) from outbox where published_at is null) as oldest`;
  return {
    pending: Number(row?.pending ?? 0),
    published: Number(row?.published ?? 0),
    oldestPendingAgeMs: row?.oldest ? Date.now() - new Date(row.oldest).getTime() : null,
  };
}
