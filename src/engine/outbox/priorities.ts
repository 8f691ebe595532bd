import type { Q } from "../db.ts";

/** Priorities run from 0 to 10; higher is published (and, with priorityFirst, read) first. */
export const MIN_PRIORITY = 0;
export const MAX_PRIORITY = 10;

/**
 * Records each event type's priority in PostgreSQL (event_priorities), where the outbox fills in
 * the priority of a row inserted without one, so rows written by other services with plain SQL
 * are ordered like the engine's own. Every machine runs the same code and writes the same values.
 */
export async function recordTypePriorities(q: Q, priorities: Record<string, number>): Promise<void> {
  const entries = Object.entries(priorities);
  for (const [type, p] of entries) {
    if (!Number.isInteger(p) || p < MIN_PRIORITY || p > MAX_PRIORITY) throw new Error(`priority of ${type} must be an integer from ${MIN_PRIORITY} to ${MAX_PRIORITY}`);
  }
  if (entries.length === 0) return;
  await q`
    insert into event_priorities (event_type, priority)
    select * from unnest(${entries.map(([t]) => t)}::text[], ${entries.map(([, p]) => p)}::smallint[])
    on conflict (event_type) do update set priority = excluded.priority`;
}
