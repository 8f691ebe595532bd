import { holdPublishBarrier } from "../outbox/barrier.ts";
import type { OutboxRow } from "../outbox/claim.ts";
import { RELAY_HANDLER } from "../dead-letters/row.ts";
import { requeueOutboxRows } from "../outbox/set-aside.ts";
import { ensureGroup } from "../delivery/groups.ts";
import { keys } from "../redis/keys.ts";
import { publishFor } from "../outbox/redrive.ts";
import type { Q } from "../db.ts";
import { removeCopies } from "../dead-letters/copies.ts";
import { columns, type DeadLetterRow } from "../dead-letters/row.ts";
import { releaseParkedKeys } from "../ordering/release.ts";
import { SINGLE_PARTITION } from "../partitions/layout.ts";
import { keyedRow } from "../outbox/publish.ts";
import { lockDeadLetters, markResolved, matchingOpenIds, type AdminDeps, type DeadLetterQuery } from "./letters.ts";

export type RetryResult =
  /** `entryId`: the re-driven stream entry; null for a `relay` dead letter, whose row goes back to the relay's queue. */
  | { outcome: "retried"; entryId: string | null }
  | { outcome: "not_found" }
  | { outcome: "not_open"; status: string }
  /** A malformed entry: it carried no event id, so there is no event to deliver again. */
  | { outcome: "no_event" };

const BATCH_SIZE = 100;
/** At most this many dead letters per bulk call; a larger backlog takes several calls. */
export const BULK_LIMIT = 10_000;

/**
 * Delivers a dead letter's event again to its handler only (an entry with `target`; the event's
 * other handlers skip it) and marks the row `retried`. MUST NOT lose the event: the XADD happens
 * inside the transaction that marks the row, before its commit. A failed XADD rolls the mark
 * back; a failed commit after it leaves the row open and at worst delivers the event twice, which
 * the handler's processed_events record absorbs.
 */
export async function retryDeadLetter(deps: AdminDeps, id: string): Promise<RetryResult> {
  return deps.sql.begin(async (tx): Promise<RetryResult> => {
    const [row] = await lockDeadLetters(tx, [id]);
    if (!row) return { outcome: "not_found" };
    if (row.status !== "open") return { outcome: "not_open", status: row.status };
    if (!row.event_id) return { outcome: "no_event" };
    const [entryId] = await redrive(deps, tx, [row]);
    deps.log.info("dead letter retried", { deadLetterId: row.id, eventId: row.event_id, handler: row.handler, entryId });
    return { outcome: "retried", entryId: entryId ?? null };
  });
}

/**
 * Retries every open dead letter matching `query` that carries an event id, oldest first,
 * `batchSize` per transaction so a large backlog never holds one long transaction, at most
 * `limit` in one call. Letters that fail again meanwhile are new rows, left for the next call;
 * rows another request is resolving right now are skipped. Returns how many were retried.
 */
export async function retryDeadLetters(deps: AdminDeps, query: DeadLetterQuery, { limit = BULK_LIMIT, batchSize = BATCH_SIZE } = {}): Promise<number> {
  const ids = await matchingOpenIds(deps.sql, query, limit, { retryable: true });
  let retried = 0;
  for (let i = 0; i < ids.length; i += batchSize) {
    const chunk = ids.slice(i, i + batchSize);
    retried += await deps.sql.begin(async (tx) => {
      const rows = await tx<DeadLetterRow[]>`
        select ${columns(tx)} from dead_letters where id = any(${chunk}::uuid[]) and status = 'open'
        order by failed_at, id for update skip locked`;
      if (rows.length) await redrive(deps, tx, rows);
      return rows.length;
    });
  }
  if (retried) deps.log.info("dead letters retried", { ...query, ids: query.ids?.length, retried });
  return retried;
}

/**
 * XADDs each row's event to its stream with `target` = its handler, removes the Redis copies and
 * marks the rows retried in `tx`. The handler's group is created if missing (Redis lost its
 * data), at the stream's start: otherwise trimming, which only keeps what existing groups still
 * need, could drop the new entry before its consumer recreates the group. A `relay` dead letter
 * (a row the relay set aside) instead puts its outbox row back in the relay's queue: the relay
 * then publishes it to every handler, or sets it aside again.
 */
async function redrive(deps: AdminDeps, tx: Q, rows: DeadLetterRow[]): Promise<(string | null)[]> {
  const { redis, prefix } = deps;
  // A recovery from Redis data loss must see this transaction's entries once it passed the barrier.
  await holdPublishBarrier(tx, prefix);
  await requeueOutboxRows(tx, rows.filter((r) => r.handler === RELAY_HANDLER) as (DeadLetterRow & { event_id: string })[]);
  // A letter that parked its key (an ordered handler) is re-driven with the key's waiting events.
  const entryIds = await releaseParkedKeys(tx, deps, rows, "retry");
  const byHandler = new Map<string, DeadLetterRow[]>();
  for (const r of rows) if (r.handler !== RELAY_HANDLER && !entryIds.has(r.id)) byHandler.set(r.handler, [...(byHandler.get(r.handler) ?? []), r]);
  for (const [handler, group] of byHandler) {
    const events = group.map(toOutboxRow);
    const layout = deps.layout ?? SINGLE_PARTITION;
    for (const stream of new Set(events.map((e) => keys.stream(prefix, e.event_type, layout.partitionOf(keyedRow(e)))))) await ensureGroup(redis, stream, handler);
    const added = await publishFor(tx, redis, prefix, handler, events, layout);
    group.forEach((r, i) => entryIds.set(r.id, added[i]!));
  }
  await removeCopies(redis, prefix, rows);
  await markResolved(tx, rows.map((r) => r.id), "retried");
  return rows.map((r) => entryIds.get(r.id) ?? null);
}

/** The event as the outbox relayed it, rebuilt from what the dead letter recorded. */
function toOutboxRow(r: DeadLetterRow): OutboxRow {
  return {
    id: r.event_id!, event_type: r.event_type, aggregate_id: r.aggregate_id, tenant_id: r.tenant_id,
    payload: r.payload, created_at: new Date(r.occurred_at ?? r.failed_at),
  };
}
