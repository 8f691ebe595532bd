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
 * keep the connection busy on the server.
 */
export async function claimEvents(tx: Tx, handler: string, eventIds: string[], timeoutMs: number): Promise<Set<string>> {
  const claimed = await tx.execute<{ event_id: string }>(sql`
    with settings as (select set_config('statement_timeout', ${String(Math.max(1, Math.ceil(timeoutMs)))}, true))
    insert into processed_events (handler, event_id)
    select ${handler}, id from unnest(${pgArray(eventIds)}::uuid[]) as t(id) cross join settings
    on conflict do nothing returning event_id`);
  return new Set(claimed.map((r) => r.event_id));
}
