import type { Sql } from "../db.ts";

export interface OutboxBacklog {
  /** Outbox rows due and not yet published. */
  backlog: number;
  /** How long the oldest of them has been due, by the database clock; null when there is none. */
  oldestUnpublishedAgeMs: number | null;
  /** Delayed rows not due yet: they wait on purpose and are no backlog. */
  delayed: number;
}

/** Counts unpublished outbox rows, due and delayed (the partial indexes on unpublished rows keep this cheap). */
export async function readOutboxBacklog(sql: Sql): Promise<OutboxBacklog> {
  const [row] = await sql<{ backlog: number; age_ms: number | null; delayed: number }[]>`
    with unpublished as (
      select coalesce(available_at, created_at) as due from outbox where published_at is null)
    select count(*) filter (where due <= clock_timestamp())::int as backlog,
      (extract(epoch from clock_timestamp() - min(due) filter (where due <= clock_timestamp())) * 1000)::float8 as age_ms,
      count(*) filter (where due > clock_timestamp())::int as delayed
    from unpublished`;
  const age = row?.age_ms;
  return { backlog: row?.backlog ?? 0, oldestUnpublishedAgeMs: age == null ? null : Math.max(0, Math.round(age)), delayed: row?.delayed ?? 0 };
}

export interface OpenDeadLetterCount {
  eventType: string;
  handler: string;
  count: number;
}

/**
 * Open dead letters per (event type, handler), from the durable PostgreSQL record: it survives
 * Redis losing its data, unlike the `<prefix>:dlq` stream and its counts.
 */
export async function countOpenDeadLetters(sql: Sql): Promise<OpenDeadLetterCount[]> {
  const rows = await sql<{ event_type: string; handler: string; n: number }[]>`
    select event_type, handler, count(*)::int as n from dead_letters where status = 'open'
    group by event_type, handler order by event_type, handler`;
  return rows.map((r) => ({ eventType: r.event_type, handler: r.handler, count: r.n }));
}
