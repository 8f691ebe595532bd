import { sql } from "drizzle-orm";
import type { Tx } from "../db.ts";
import { pgArray } from "../support/pg-array.ts";

/**
 * The first statement of every handler transaction. Records (handler, event) in processed_events
 * for every id in one statement and returns the ids that were new: those, and only those, the
 * handler runs for, and their effects commit exactly when their records do. Ids already recorded
 * (a redelivery, another copy of the event) are skipped; a concurrent run of the same pair waits
 * on the record's key and then finds it taken. It also bounds every later statement of the
 * transaction by `timeoutMs` (SET LOCAL statement_timeout), so a handler past its time cannot
 * keep the connection busy on the server. It also resolves this handler's open dead letters of
 * the events it claims.
 */
export interface Claimed {
  /** The events new to this handler: it runs for these. */
  fresh: Set<string>;
  /** Redis copies of the dead letters resolved: to remove once the transaction committed. */
  resolvedCopies: { dlqEntryId: string; eventType: string }[];
}

export async function claimEvents(tx: Tx, handler: string, eventIds: string[], timeoutMs: number, ordered = false): Promise<Claimed> {
  // An ordered handler no longer owes what it claims: each key's next event becomes its first
  // (outbox/ordered-backlog.ts), exactly when these effects commit.
  const settled = ordered
    ? sql`, settled as (delete from ordered_backlog where handler = ${handler} and event_id in (select event_id from claimed))`
    : sql``;
  const rows = await tx.execute<{ event_id: string | null; dlq_entry_id: string | null; event_type: string | null }>(sql`
    with settings as (select set_config('statement_timeout', ${String(Math.max(1, Math.ceil(timeoutMs)))}, true)),
    claimed as (
      insert into processed_events (handler, event_id)
      select ${handler}, id from unnest(${pgArray(eventIds)}::uuid[]) as t(id) cross join settings
      on conflict do nothing returning event_id),
    -- Another copy of the event dead-lettered earlier (a duplicate entry, a re-publish): now that
    -- it is processed, retrying that dead letter must find nothing left to do.
    resolved as (
      update dead_letters set status = 'resolved', resolved_at = now()
      where handler = ${handler} and status = 'open' and event_id in (select event_id from claimed)
      returning dlq_entry_id, event_type)${settled}
    select event_id, null::text as dlq_entry_id, null::text as event_type from claimed
    union all select null, dlq_entry_id, event_type from resolved`);
  const fresh = new Set<string>();
  const resolvedCopies: Claimed["resolvedCopies"] = [];
  for (const r of rows) {
    if (r.event_id) fresh.add(r.event_id);
    else if (r.dlq_entry_id && r.event_type) resolvedCopies.push({ dlqEntryId: r.dlq_entry_id, eventType: r.event_type });
  }
  return { fresh, resolvedCopies };
}
