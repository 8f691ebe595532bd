import { sql } from "drizzle-orm";
import type { Db, Tx } from "../db/client.ts";
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
