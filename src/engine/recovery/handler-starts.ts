import type { Q } from "../db.ts";

/**
 * `(event_type, handler, started_at)` for each row of a `subs(event_type, handler)` CTE: when the
 * handler started reading the type, -infinity when it answers for every event (a backfill, a
 * handler from before starts were recorded, or one not recorded at all).
 */
export const handlerStartsSql = (q: Q) => q`
  select s.event_type, s.handler, coalesce(h.started_at, '-infinity'::timestamptz) as started_at
  from subs s left join handler_starts h on h.handler = s.handler and h.event_type = s.event_type`;

export interface HandlerStart {
  /** UTC with microseconds; "-infinity" when it answers for every event. */
  startedAt: string;
  everything: boolean;
  caughtUp: boolean;
}

/** The recorded start of (handler, event type), or undefined before its first start. */
export async function readHandlerStart(q: Q, handler: string, eventType: string): Promise<HandlerStart | undefined> {
  const [row] = await q<{ started_key: string | null; caught_up: boolean }[]>`
    select case when started_at = '-infinity' then null else to_char(started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') end as started_key, caught_up
    from handler_starts where handler = ${handler} and event_type = ${eventType}`;
  return row && { startedAt: row.started_key ?? "-infinity", everything: row.started_key === null, caughtUp: row.caught_up };
}

/**
 * Records the start of (handler, event type) unless one is recorded: now, or -infinity for a
 * handler that takes every event. The first writer wins; returns the start as recorded.
 */
export async function recordHandlerStart(q: Q, handler: string, eventType: string, everything: boolean, startedAt: string): Promise<HandlerStart> {
  await q`
    insert into handler_starts (handler, event_type, started_at)
    values (${handler}, ${eventType}, ${everything ? q`'-infinity'::timestamptz` : q`${startedAt}::timestamptz`})
    on conflict do nothing`;
  return (await readHandlerStart(q, handler, eventType))!;
}

/**
 * Records, for each pair that has no start yet, that it answers for every event: the groups a new
 * deployment's first recovery creates, before the handlers join, are given everything published
 * so far (that recovery publishes it again to them), and a data loss before a join must not leave
 * any of it to no one. The join then finds the start recorded and only marks it caught up.
 */
export async function recordMissingStarts(q: Q, pairs: { handler: string; eventType: string }[]): Promise<void> {
  if (pairs.length === 0) return;
  await q`
    insert into handler_starts (handler, event_type, started_at)
    select handler, event_type, '-infinity'::timestamptz
    from unnest(${pairs.map((p) => p.handler)}::text[], ${pairs.map((p) => p.eventType)}::text[]) as v(handler, event_type)
    on conflict do nothing`;
}

export async function markCaughtUp(q: Q, handler: string, eventType: string): Promise<void> {
  await q`update handler_starts set caught_up = true where handler = ${handler} and event_type = ${eventType}`;
}

/** The pairs among `pairs` whose handler started reading its type (joinSubscription ran, or runs now). */
export async function withRecordedStart<T extends { handler: string; eventType: string }>(q: Q, pairs: T[]): Promise<T[]> {
  if (pairs.length === 0) return [];
  const rows = await q<{ handler: string; event_type: string }[]>`
    select handler, event_type from handler_starts
    where (handler, event_type) in (select * from unnest(${pairs.map((p) => p.handler)}::text[], ${pairs.map((p) => p.eventType)}::text[]))`;
  const found = new Set(rows.map((r) => `${r.handler}\u0000${r.event_type}`));
  return pairs.filter((p) => found.has(`${p.handler}\u0000${p.eventType}`));
}
