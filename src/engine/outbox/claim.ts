import type postgres from "postgres";

export interface OutboxRow {
  id: string;
  event_type: string;
  aggregate_id: string | null;
  tenant_id: string | null;
  /** The payload as stored JSON text: relayed as is, never parsed and re-serialised. */
  payload: string;
  created_at: Date;
  /** The trace context it was written in (`trace_context`), as stored: validated when it is published. */
  traceparent?: string | null;
  tracestate?: string | null;
}

type Q = postgres.Sql | postgres.TransactionSql;

export interface ClaimOptions {
  /** Types left for other machines (a rolling deploy): not claimed. */
  skipTypes?: readonly string[];
  /** Share of each batch taken oldest first whatever the priority, so low priorities still move. */
  oldestShare: number;
  /** Also claim delayed rows that have come due (known to exist: see nextDueAt). */
  withDue: boolean;
}

/**
 * Locks up to `limit` rows due now, skipping rows another relay holds, so relays on several
 * machines never claim the same row: a share of the batch (at least one row) oldest first, the rest
 * highest priority first (oldest first within a priority), and, with `withDue`, delayed rows whose
 * time has come, in due order. Returned highest priority first. Selects by what is unpublished,
 * never by "id greater than the last seen": ids and timestamps commit out of order.
 */
export async function claimOutboxBatch(tx: Q, limit: number, { skipTypes = [], oldestShare, withDue }: ClaimOptions): Promise<OutboxRow[]> {
  const oldest = Math.max(1, Math.min(limit, Math.floor(limit * oldestShare)));
  const skip = skipTypes.length ? tx`and event_type <> all(${skipTypes as string[]}::text[])` : tx``;
  return tx<OutboxRow[]>`
    with oldest as (
      select id from outbox where published_at is null and available_at is null ${skip}
      order by created_at, position limit ${oldest} for update skip locked),
    urgent as (
      select id from outbox where published_at is null and available_at is null ${skip} and id not in (select id from oldest)
      order by priority desc nulls last, created_at, position limit ${limit - oldest} for update skip locked),
    due as (
      select id from outbox where ${withDue} and published_at is null and available_at <= clock_timestamp() ${skip}
      order by available_at limit ${limit} for update skip locked)
    select id, event_type, aggregate_id, tenant_id, payload::text as payload, created_at,
      trace_context->>'traceparent' as traceparent, trace_context->>'tracestate' as tracestate
    from outbox where id in (select id from oldest union all select id from urgent union all select id from due)
    order by priority desc nulls last, coalesce(available_at, created_at), position`;
}

/**
 * Locks up to `limit` rows due now of the ordered types, oldest first (a delayed row at its due
 * time; rows of one transaction, which share created_at, in the order they were inserted),
 * whatever their priority: the caller holds the ordered types' publish lock, so these are
 * the oldest unpublished rows of those types, published before any newer one.
 */
export async function claimOrderedRows(tx: Q, types: readonly string[], limit: number, withDue: boolean): Promise<OutboxRow[]> {
  if (types.length === 0) return [];
  return tx<OutboxRow[]>`
    select id, event_type, aggregate_id, tenant_id, payload::text as payload, created_at,
      trace_context->>'traceparent' as traceparent, trace_context->>'tracestate' as tracestate
    from outbox
    where event_type = any(${types as string[]}::text[]) and published_at is null
      and (available_at is null or (${withDue} and available_at <= clock_timestamp()))
    order by coalesce(available_at, created_at), created_at, position
    limit ${limit} for update skip locked`;
}

/**
 * How long until the earliest delayed row falls due (null when none waits; 0 or less when one is
 * due already), by the database's clock, which decides when a row is published.
 */
export async function nextDueAt(q: Q): Promise<{ inMs: number; due: boolean } | null> {
  const [row] = await q<{ in_ms: number | null }[]>`
    select (extract(epoch from min(available_at) - clock_timestamp()) * 1000)::float8 as in_ms
    from outbox where published_at is null and available_at is not null`;
  return row?.in_ms == null ? null : { inMs: row.in_ms, due: row.in_ms <= 0 };
}

/**
 * Marks rows published and remembers the stream entry each became. published_at is the clock
 * when the rows were marked, after their XADD (not the transaction's start): an entry that
 * reached its stream after a moment T always has published_at after T.
 */
export async function markPublished(tx: Q, ids: string[], streamIds: string[], partitions?: number[]): Promise<void> {
  const parts = partitions ?? ids.map(() => 0);
  await tx`
    update outbox o set published_at = clock_timestamp(), stream_id = v.stream_id, stream_partition = nullif(v.part, 0)
    from unnest(${ids}::uuid[], ${streamIds}::text[], ${parts}::int[]) as v(id, stream_id, part)
    where o.id = v.id`;
}

/** The outbox row that a stream entry (of `partition`) was published from; used when the entry itself was deleted. */
export async function findByStreamId(sql: Q, eventType: string, streamId: string, partition = 0): Promise<OutboxRow | undefined> {
  const [row] = await sql<OutboxRow[]>`
    select id, event_type, aggregate_id, tenant_id, payload::text as payload, created_at,
      trace_context->>'traceparent' as traceparent, trace_context->>'tracestate' as tracestate
    from outbox where event_type = ${eventType} and stream_id = ${streamId} and coalesce(stream_partition, 0) = ${partition}`;
  return row;
}

/** The stored trace contexts of these events (those that have one), by event id: for re-drives, rebuilt from other records. */
export async function readTraceContexts(sql: Q, ids: string[]): Promise<Map<string, { traceparent: string | null; tracestate: string | null }>> {
  const rows = await sql<{ id: string; traceparent: string | null; tracestate: string | null }[]>`
    select id, trace_context->>'traceparent' as traceparent, trace_context->>'tracestate' as tracestate
    from outbox where id = any(${ids}::uuid[]) and trace_context is not null`;
  return new Map(rows.map((r) => [r.id, r]));
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
