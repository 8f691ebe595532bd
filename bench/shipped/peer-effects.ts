// The peer's jobs for the shipped scenarios: the same effects as our shipped handlers, with the
// same exactly-once guarantee (a processed_events record in the job's transaction), done the way
// a BullMQ worker does them: one job, one transaction, all of the event's effects in it.
import { sql as dsql } from "drizzle-orm";
import type { Db, Tx } from "../../src/db/client.ts";
import { notifications } from "../../src/db/schema.ts";
import * as messages from "../../src/notifications/messages.ts";
import { addToCounters } from "../../src/tenants/tenant-stats.ts";

export const PEER_HANDLER = "peer";

/** Runs `effects` once per event: false (and nothing done) when the event was processed before. */
export async function onceInTransaction(db: Db, eventId: string, effects: (tx: Tx) => Promise<void>): Promise<boolean> {
  return db.transaction(async (tx) => {
    const claimed = await tx.execute(dsql`insert into processed_events (handler, event_id) values (${PEER_HANDLER}, ${eventId}) on conflict do nothing returning 1`);
    if (claimed.length === 0) return false;
    await effects(tx);
    return true;
  });
}

export interface UserCreated {
  userId: string;
  email: string;
  role: string;
}

/** user.created: the welcome e-mail's row (notifications) and the tenant's counter (analytics). */
export async function welcomeUser(db: Db, event: { id: string; tenantId: string; payload: UserCreated }): Promise<boolean> {
  return onceInTransaction(db, event.id, async (tx) => {
    const email = messages.welcome({ ...event.payload });
    await tx.insert(notifications).values({ eventId: event.id, eventType: "user.created", tenantId: event.tenantId, ...email, status: "sent", sentAt: dsql`now()` });
    await addToCounters(tx, "usersCreated", [{ tenantId: event.tenantId, count: 1, revenue: 0 }]);
  });
}
