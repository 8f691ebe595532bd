import type { Sql } from "../db.ts";

export interface OutboxBacklog {
  /** Outbox rows not yet published. */
  backlog: number;
  /** Age of the oldest of them, by the database clock; null when there is none. */
  oldestUnpublishedAgeMs: number | null;
}

/** Counts unpublished outbox rows (the partial index on published_at is null keeps this cheap). */
export async function readOutboxBacklog(sql: Sql): Promise<OutboxBacklog> {
  const [row] = await sql<{ backlog: number; age_ms: number | null }[]>`
    select count(*)::int as backlog,
      (extract(epoch from clock_timestamp() - min(created_at)) * 1000)::float8 as age_ms
    from outbox where published_at is null`;
  const age = row?.age_ms;
  return { backlog: row?.backlog ?? 0, oldestUnpublishedAgeMs: age == null ? null : Math.max(0, Math.round(age)) };
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
