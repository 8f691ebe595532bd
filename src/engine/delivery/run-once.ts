import { sql } from "drizzle-orm";
import type { Db, Tx } from "../db.ts";
import { pgArray } from "../support/pg-array.ts";
import { commitWithEvents, type Waker } from "../outbox/write-event.ts";

/**
 * Runs `effect` for (handler, eventId) at most once ever: the processed_events record and the
 * effect commit in one transaction. Returns false, running nothing, when it already committed.
 * A concurrent run of the same pair waits on the record's key and then sees it as done.
 */
export async function runOnce(db: Db, relay: Waker | undefined, handler: string, eventId: string, effect: (tx: Tx) => Promise<void>): Promise<boolean> {
  return commitWithEvents(db, relay, async (tx) => {
    const claimed = await tx.execute(sql`
      insert into processed_events (handler, event_id) values (${handler}, ${eventId})
      on conflict do nothing returning 1 as claimed`);
    if (claimed.length === 0) return false;
    await effect(tx);
    return true;
  });
}

/**
 * The batch form of runOnce: records (handler, eventId) for every id in one statement and runs
 * `effects` with the ids that were new, all in one transaction, so each event's effects commit
 * exactly when its record does. Ids already recorded are skipped; a repeated id counts once.
 */
export async function runBatchOnce(db: Db, relay: Waker | undefined, handler: string, eventIds: string[], effects: (tx: Tx, fresh: Set<string>) => Promise<void>): Promise<Set<string>> {
  return commitWithEvents(db, relay, async (tx) => {
    const claimed = await tx.execute<{ event_id: string }>(sql`
      insert into processed_events (handler, event_id)
      select ${handler}, id from unnest(${pgArray(eventIds)}::uuid[]) as t(id)
      on conflict do nothing returning event_id`);
    const fresh = new Set(claimed.map((r) => r.event_id));
    if (fresh.size > 0) await effects(tx, fresh);
    return fresh;
  });
}
