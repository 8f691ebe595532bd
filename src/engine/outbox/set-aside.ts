import type Redis from "ioredis";
import type { Q } from "../db.ts";
import { addCopies } from "../dead-letters/copies.ts";
import { insertDeadLetters, newDeadLetter, RELAY_HANDLER, type DeadLetterReason } from "../dead-letters/row.ts";
import { keys } from "../redis/keys.ts";
import type { OutboxRow } from "./claim.ts";


export interface SetAside {
  row: OutboxRow;
  reason: Extract<DeadLetterReason, "unknown_event_type" | "unpublishable">;
  error: string;
}

/**
 * Records each row as a `relay` dead letter (its Redis copy first, then the `dead_letters` row
 * naming that copy, in `tx`) and marks it published with no stream entry, in `tx`, so it no
 * longer holds back the rows behind it. Retrying the dead letter puts the row back in the relay's
 * queue. MUST run in the relay's transaction that claimed the rows: the record and the mark commit
 * together or not at all. Throws, recording nothing, when Redis refuses the copies.
 */
export async function setAsideRows(tx: Q, redis: Redis, prefix: string, items: SetAside[]): Promise<void> {
  if (items.length === 0) return;
  const letters = items.map(({ row, reason, error }) => {
    const letter = newDeadLetter({
      event_id: row.id, event_type: row.event_type, handler: RELAY_HANDLER, stream: keys.stream(prefix, row.event_type),
      entry_id: "", reason, error, attempts: 1, payload: row.payload,
      aggregate_id: row.aggregate_id, tenant_id: row.tenant_id, occurred_at: new Date(row.created_at).getTime(),
    });
    // No stream entry exists; the dead letter's own id keeps (handler, stream, entry_id) unique.
    return { ...letter, entry_id: `relay:${letter.id}` };
  });
  const copies = await addCopies(redis, prefix, letters);
  await insertDeadLetters(tx, letters.map((l, i) => ({ ...l, dlq_entry_id: copies[i]! })));
  await tx`update outbox set published_at = now(), stream_id = null where id = any(${items.map((i) => i.row.id)}::uuid[])`;
}

/**
 * Puts set-aside rows back in the relay's queue (published_at null). A row the retention deleted
 * meanwhile (nobody subscribed to its type) is written back from what its dead letter recorded.
 */
export async function requeueOutboxRows(tx: Q, rows: { event_id: string; event_type: string; aggregate_id: string | null; tenant_id: string | null; payload: string; occurred_at: number | null; failed_at: number }[]): Promise<void> {
  for (const r of rows) {
    const created = new Date(r.occurred_at ?? r.failed_at).toISOString();
    await tx`
      insert into outbox (id, event_type, aggregate_id, tenant_id, payload, created_at)
      values (${r.event_id}, ${r.event_type}, ${r.aggregate_id}, ${r.tenant_id}, ${r.payload}::jsonb, ${created}::timestamptz)
      on conflict (id) do update set published_at = null, stream_id = null`;
  }
}
