import type { Sql } from "../db/client.ts";
import { RELAY_HANDLER } from "../outbox/set-aside.ts";
import { lockDeadLetters, markResolved, removeRedisCopies, type DlqDeps } from "./rows.ts";

export type DeleteResult = "deleted" | "not_found" | "not_open";

/**
 * Discards a dead letter: marks it `deleted` and records (handler, event) in processed_events as
 * `discarded` in one transaction, so the outbox retention can delete the event's row and a later
 * re-publish of the event never runs it for this handler. Its Redis copy is removed before the
 * commit; a Redis failure leaves it open. Deleting a deleted letter again changes nothing. A
 * `relay` dead letter is only resolved: its outbox row stays out of the relay's queue.
 */
export async function deleteDeadLetter(deps: DlqDeps, id: string): Promise<DeleteResult> {
  return deps.sql.begin(async (tx): Promise<DeleteResult> => {
    const [row] = await lockDeadLetters(tx, [id]);
    if (!row) return "not_found";
    if (row.status === "deleted") return "deleted";
    if (row.status !== "open") return "not_open";
    if (row.event_id && row.handler !== RELAY_HANDLER) {
      await tx`
        insert into processed_events (handler, event_id, outcome) values (${row.handler}, ${row.event_id}, 'discarded')
        on conflict do nothing`;
    }
    await markResolved(tx, [row.id], "deleted");
    await removeRedisCopies(deps.redis, deps.prefix, [row]);
    deps.log.info("dead letter deleted", { deadLetterId: row.id, eventId: row.event_id, handler: row.handler });
    return "deleted";
  });
}

/** Deletes up to `limit` retried or deleted dead letters resolved more than `retentionMs` ago; open ones stay. */
export async function deleteResolvedDeadLetters(sql: Sql, retentionMs: number, limit = 5_000): Promise<number> {
  const cutoff = new Date(Date.now() - retentionMs).toISOString();
  const [row] = await sql<{ n: number }[]>`
    with doomed as (
      select id from dead_letters where status <> 'open' and resolved_at < ${cutoff}::timestamptz limit ${limit}
    ),
    gone as (delete from dead_letters where id in (select id from doomed) returning 1)
    select count(*)::int as n from gone`;
  return row?.n ?? 0;
}
