import type Redis from "ioredis";
import type { Sql } from "../db.ts";
import { addCopies, findCopies, removeCopyEntries } from "./copies.ts";
import { findDeadLetterOfEntry, findOpenDeadLetterOfEvent, insertDeadLetters, setCopyEntryId, type DeadLetterRow } from "./row.ts";

export interface MoveDeps {
  sql: Sql;
  redis: Redis;
  prefix: string;
}

export interface MovedDeadLetter {
  /** The `dead_letters` row id, also the `id` field of the Redis copy. */
  id: string;
  /** The Redis copy's entry id in `<prefix>:dlq`; null when the row was already resolved and only the ack was left to do. */
  dlqEntryId: string | null;
}

/**
 * Dead-letters one pending entry of `group`: the row first, then the Redis copy with its count
 * (one MULTI, in the slot of `<prefix>:dlq`), the copy's entry id on the row, and the ack last (the
 * entry's stream is in another slot of a Redis Cluster, so it cannot join the MULTI). Safe to call
 * twice for one entry: a process that died before the ack left the entry pending, and its
 * redelivery finds the row recorded first (unique on handler, stream, entry id) and finishes the
 * job with what it says: the copy's id on the row means only the ack was left; a row without one
 * is looked for among the copies (the process may have died between the MULTI and storing the id)
 * before a copy is added. Nothing is recorded twice.
 */
export async function moveToDeadLetter(deps: MoveDeps, group: string, letter: DeadLetterRow): Promise<MovedDeadLetter> {
  const { sql, redis, prefix } = deps;
  const [inserted] = await insertDeadLetters(sql, [letter]);
  const row = inserted ?? (await findDeadLetterOfEntry(sql, letter.handler, letter.stream, letter.entry_id));
  if (!row) {
    // Another copy of this event is dead-lettered and still open: that letter stands for both
    // (its retry runs the event once), and whoever recorded it owns its Redis copy.
    const open = letter.event_id === null ? undefined : await findOpenDeadLetterOfEvent(sql, letter.handler, letter.event_id);
    if (!open) throw new Error(`dead letter for entry ${letter.entry_id} conflicted but was not found`);
    await redis.xack(letter.stream, group, letter.entry_id);
    return { id: open.id, dlqEntryId: open.dlq_entry_id };
  }
  if (row.status !== "open" || row.dlq_entry_id) {
    // An operator already retried or deleted it (or its copy exists): only the ack was missing.
    await redis.xack(letter.stream, group, letter.entry_id);
    return { id: row.id, dlqEntryId: row.dlq_entry_id };
  }
  // A row found rather than inserted may have its copy already (see above).
  const found = inserted ? undefined : (await findCopies(redis, prefix, new Set([row.id]))).get(row.id);
  const dlqEntryId = found ?? (await addCopies(redis, prefix, [row]))[0]!;
  if (!(await setCopyEntryId(sql, row.id, null, dlqEntryId)) && !found) {
    // Resolved between the insert and now (its copy must not outlive it), or a recovery from Redis
    // data loss restored a copy meanwhile (a row has one copy, not two). A copy found, not added,
    // was already there for whoever resolved or restored the row, which looks copies up by row id.
    await removeCopyEntries(redis, prefix, [{ dlqEntryId, eventType: row.event_type }]);
  }
  await redis.xack(letter.stream, group, letter.entry_id);
  return { id: row.id, dlqEntryId };
}
