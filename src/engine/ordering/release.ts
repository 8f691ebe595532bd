import type Redis from "ioredis";
import type { Q } from "../db.ts";
import type { DeadLetterRow } from "../dead-letters/row.ts";
import type { OutboxRow } from "../outbox/claim.ts";
import { SINGLE_PARTITION, type Layout } from "../partitions/layout.ts";
import { streamOf } from "../redis/keys.ts";
import { queueEvents, redriveWaiting, waitingEvents, type KeyRef, type Redriver } from "./parking.ts";

export interface ReleaseDeps {
  redis: Redis;
  prefix: string;
  /** Where the key's events are re-driven; without it, to the partition its dead letter came from. */
  layout?: Layout;
}

/**
 * Releases the parked keys whose dead letters are `letters`, inside the operator's transaction
 * that retries (`retry`) or deletes (`discard`) them, with the letters' rows locked. For each
 * parked key (see parking.ts for its states): a retry re-drives the letter's event first, then the
 * events parked behind it, in order; a delete re-drives only the parked events (or frees the key
 * when none wait). The key stays parked until the last of them has run, so none of its events runs
 * out of order or twice. Returns, per released letter, its event's new entry id (retry) or null:
 * the caller MUST NOT re-drive those letters again.
 */
export async function releaseParkedKeys(
  tx: Q, deps: ReleaseDeps, letters: DeadLetterRow[], action: "retry" | "discard",
): Promise<Map<string, string | null>> {
  const released = new Map<string, string | null>();
  if (letters.length === 0) return released;
  const keysOf = await tx<{ handler: string; event_type: string; partition_key: string; dead_letter_id: string }[]>`
    select handler, event_type, partition_key, dead_letter_id from parked_keys
    where dead_letter_id = any(${letters.map((l) => l.id)}::uuid[])
    order by handler, event_type, partition_key for update`;
  for (const k of keysOf) {
    const letter = letters.find((l) => l.id === k.dead_letter_id)!;
    const ref: KeyRef = { handler: k.handler, eventType: k.event_type, key: k.partition_key };
    const redriver: Redriver = { redis: deps.redis, prefix: deps.prefix, layout: deps.layout ?? layoutOfLetter(deps.prefix, letter) };
    const waiting = await waitingEvents(tx, ref, letter.event_id);
    if (action === "retry" && letter.event_id) {
      // The retried event runs first: its row goes ahead of the waiting ones.
      await queueEvents(tx, ref, [letter.event_id, ...waiting], 1);
      const [entryId] = await redriveWaiting(tx, ref, redriver, waiting, eventOfLetter(letter));
      released.set(letter.id, entryId ?? null);
    } else if (waiting.length > 0) {
      await redriveWaiting(tx, ref, redriver, waiting);
      released.set(letter.id, null);
    } else {
      await tx`delete from parked_keys where handler = ${ref.handler} and event_type = ${ref.eventType} and partition_key = ${ref.key}`;
      released.set(letter.id, null);
    }
  }
  return released;
}

/** The event as the outbox relayed it, rebuilt from what the dead letter recorded. */
function eventOfLetter(r: DeadLetterRow): OutboxRow {
  return {
    id: r.event_id!, event_type: r.event_type, aggregate_id: r.aggregate_id, tenant_id: r.tenant_id,
    payload: r.payload, created_at: new Date(r.occurred_at ?? r.failed_at),
  };
}

/** Every event to the partition the letter's entry was read from. */
function layoutOfLetter(prefix: string, letter: DeadLetterRow): Layout {
  const partition = streamOf(prefix, letter.stream)?.partition ?? 0;
  return { ...SINGLE_PARTITION, partitionOf: () => partition };
}
