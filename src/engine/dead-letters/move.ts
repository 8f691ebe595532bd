import type Redis from "ioredis";
import type { Sql } from "../db.ts";
import { keys } from "../redis/keys.ts";
import { copyFields, removeCopyEntries } from "./copies.ts";
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
 * Dead-letters one pending entry of `group`: the row first, then the Redis copy and the ack in one
 * MULTI, then the copy's entry id on the row. Safe to call twice for one entry: a process that
 * died before the MULTI left the entry pending, and its redelivery finds the row recorded first
 * (unique on handler, stream, entry id) and finishes the job with what it says; nothing is
 * recorded twice.
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
  const results = await redis
    .multi()
    .xadd(keys.deadLetters(prefix), "*", ...copyFields(row))
    .xack(letter.stream, group, letter.entry_id)
    .hincrby(keys.deadLetterCounts(prefix), row.event_type, 1)
    .exec();
  if (!results) throw new Error("dead-letter transaction was discarded");
  const [[err, added] = []] = results;
  if (err) throw err;
  const dlqEntryId = String(added);
  if (!(await setCopyEntryId(sql, row.id, null, dlqEntryId))) {
    // Resolved between the insert and now (its copy must not outlive it), or a recovery from Redis
    // data loss restored a copy meanwhile (a row has one copy, not two).
    await removeCopyEntries(redis, prefix, [{ dlqEntryId, eventType: row.event_type }]);
  }
  return { id: row.id, dlqEntryId };
}
