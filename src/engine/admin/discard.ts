import { settleBacklog } from "../outbox/ordered-backlog.ts";
import { RELAY_HANDLER } from "../dead-letters/row.ts";
import { removeCopies } from "../dead-letters/copies.ts";
import { lockDeadLetters, markResolved, matchingOpenIds, type AdminDeps, type DeadLetterQuery } from "./letters.ts";
import { BULK_LIMIT } from "./redrive.ts";
import { releaseParkedKeys } from "../ordering/release.ts";

export type DeleteResult = "discarded" | "not_found" | "not_open";

/**
 * Discards a dead letter: marks it `discarded` and records (handler, event) in processed_events as
 * `discarded` in one transaction, so the outbox retention can delete the event's row and a later
 * re-publish of the event never runs it for this handler. Its Redis copy is removed before the
 * commit; a Redis failure leaves it open. A discarded letter is gone for the API: discarding it
 * again, or reading it one by one, finds nothing (it is still listed under its status). A
 * `relay` dead letter is only resolved: its outbox row stays out of the relay's queue.
 */
export async function deleteDeadLetter(deps: AdminDeps, id: string): Promise<DeleteResult> {
  return deps.sql.begin(async (tx): Promise<DeleteResult> => {
    const [row] = await lockDeadLetters(tx, [id]);
    if (!row || row.status === "discarded") return "not_found";
    if (row.status !== "open") return "not_open";
    if (row.event_id && row.handler !== RELAY_HANDLER) {
      await tx`
        insert into processed_events (handler, event_id, outcome) values (${row.handler}, ${row.event_id}, 'discarded')
        on conflict do nothing`;
      // An ordered handler no longer owes it: the key's next event becomes its first.
      await settleBacklog(tx, row.handler, [row.event_id]);
    }
    await markResolved(tx, [row.id], "discarded");
    // A letter that parked its key (an ordered handler): the events waiting behind it go on.
    await releaseParkedKeys(tx, deps, [row], "discard");
    await removeCopies(deps.redis, deps.prefix, [row]);
    deps.log.info("dead letter discarded", { deadLetterId: row.id, eventId: row.event_id, handler: row.handler });
    return "discarded";
  });
}

/** Discards every open dead letter matching `query`, each as deleteDeadLetter does, at most `limit` in one call. */
export async function discardDeadLetters(deps: AdminDeps, query: DeadLetterQuery, { limit = BULK_LIMIT } = {}): Promise<number> {
  let discarded = 0;
  for (const id of await matchingOpenIds(deps.sql, query, limit)) if ((await deleteDeadLetter(deps, id)) === "discarded") discarded++;
  if (discarded) deps.log.info("dead letters discarded", { ...query, ids: query.ids?.length, discarded });
  return discarded;
}
