import type Redis from "ioredis";
import type { Q } from "../db.ts";
import type { OutboxRow } from "../outbox/claim.ts";
import { publishFor } from "../outbox/redrive.ts";
import type { Layout } from "../partitions/layout.ts";

/**
 * Parked keys of an ordered handler, as rows in PostgreSQL. The states of one key K:
 *
 * - free: no parked_keys row. Its events run in stream order, one at a time.
 * - parked: a parked_keys row whose dead letter is open. Every later event of K that arrives is
 *   appended to parked_events (redriven = false, in arrival order) and acked: the partition's
 *   stream is never held back by K.
 * - releasing: the dead letter was retried or deleted (release.ts). In that transaction the
 *   retried event (first) and the parked events were re-driven, in order, as entries that carry
 *   the handler as target, and their rows marked redriven. Only the first re-driven row's entry
 *   runs; its run deletes its row in the handler's own transaction (finishParkedEvent), and the
 *   next one may run. An event of K arriving meanwhile that is not one of them is parked behind
 *   them (redriven = false). When no re-driven row is left, advanceKey re-drives the waiting
 *   ones in the same way, or, with none left, deletes the parked_keys row: K is free again.
 * - a re-driven event failing for good parks K again behind its new dead letter; the re-driven
 *   rows after it go back to waiting (their entries already on the stream are acked unrun).
 *
 * Every change to K's rows happens under K's parked_keys row lock (FOR UPDATE), and every re-drive
 * XADDs before its transaction commits, so an entry is never seen before the state that lets it
 * run: a lane reading a re-driven entry waits on the lock until the release committed. A rolled-
 * back release leaves entries whose rows say "waiting": they are acked unrun and re-driven again
 * by the next release. An event already processed by the handler is never run again.
 */
export interface KeyRef {
  handler: string;
  eventType: string;
  key: string;
}

/** What re-drives need: where to XADD (each event to its key's partition by `layout`). */
export interface Redriver {
  redis: Redis;
  prefix: string;
  layout: Layout;
}

/** What a lane does with an entry of a parked key: run it now, or ack it without running. */
export type Verdict = "run" | "skip";

interface Parked {
  dead_letter_id: string;
  event_id: string;
  open: boolean;
}

/** Locks K's parked_keys row until the transaction ends; undefined when K is free. */
async function lockKey(tx: Q, ref: KeyRef): Promise<Parked | undefined> {
  const [row] = await tx<Omit<Parked, "open">[]>`
    select dead_letter_id, event_id from parked_keys
    where handler = ${ref.handler} and event_type = ${ref.eventType} and partition_key = ${ref.key}
    for update`;
  if (!row) return undefined;
  // MUST be a statement of its own, after the lock: a statement that waited for the lock sees
  // the locked row as committed meanwhile, but rows it joined as they were when it started (a
  // release that just committed would still show its dead letter open).
  const [letter] = await tx<{ status: string }[]>`select status from dead_letters where id = ${row.dead_letter_id}`;
  return { ...row, open: letter?.status === "open" };
}

/**
 * Decides, under K's lock, what to do with an entry of event `eventId` of K, and records a parked
 * event. The caller MUST have checked its fence in `tx` first and MUST ack the entry only after
 * the commit when the verdict is `skip`.
 */
export async function decideParked(tx: Q, ref: KeyRef, eventId: string, redriver: Redriver): Promise<Verdict> {
  const parked = await lockKey(tx, ref);
  if (!parked) return "run";
  const [done] = await tx`select 1 from processed_events where handler = ${ref.handler} and event_id = ${eventId}`;
  if (done) return "skip";
  // The dead letter stands for its event until it is retried or deleted.
  if (parked.open && parked.event_id === eventId) return "skip";
  const [row] = await tx<{ position: string; redriven: boolean }[]>`
    select position, redriven from parked_events where handler = ${ref.handler} and event_id = ${eventId}`;
  if (row?.redriven) {
    const [first] = await tx<{ position: string }[]>`
      select min(position) as position from parked_events
      where handler = ${ref.handler} and event_type = ${ref.eventType} and partition_key = ${ref.key} and redriven`;
    if (first?.position === row.position) return "run";
    // An entry ahead of its turn (an earlier one's entry was lost): it and the ones after it wait
    // again, and are re-driven once the earlier one has run.
    await tx`
      update parked_events set redriven = false
      where handler = ${ref.handler} and event_type = ${ref.eventType} and partition_key = ${ref.key} and redriven and position >= ${row.position}`;
    return "skip";
  }
  if (!parked.open && !(await hasRedriven(tx, ref)) && (await advanceKey(tx, ref, redriver)) === "free") return "run";
  if (!row) {
    await tx`
      insert into parked_events (handler, event_type, partition_key, event_id)
      values (${ref.handler}, ${ref.eventType}, ${ref.key}, ${eventId}) on conflict do nothing`;
  }
  return "skip";
}

async function hasRedriven(tx: Q, ref: KeyRef): Promise<boolean> {
  const [row] = await tx`
    select 1 from parked_events
    where handler = ${ref.handler} and event_type = ${ref.eventType} and partition_key = ${ref.key} and redriven limit 1`;
  return row !== undefined;
}

/**
 * Moves a released key on (caller holds nothing; this locks K): while its dead letter is open or a
 * re-driven event has not run yet, nothing; else it re-drives the events parked meanwhile, or,
 * with none, frees the key. Safe to call any number of times.
 */
export async function advanceKey(tx: Q, ref: KeyRef, redriver: Redriver): Promise<"free" | "parked"> {
  const parked = await lockKey(tx, ref);
  if (!parked) return "free";
  if (parked.open || (await hasRedriven(tx, ref))) return "parked";
  const waiting = await tx<{ event_id: string }[]>`
    select event_id from parked_events
    where handler = ${ref.handler} and event_type = ${ref.eventType} and partition_key = ${ref.key}
    order by position`;
  if (waiting.length === 0) {
    await tx`delete from parked_keys where handler = ${ref.handler} and event_type = ${ref.eventType} and partition_key = ${ref.key}`;
    return "free";
  }
  await redriveWaiting(tx, ref, redriver, waiting.map((w) => w.event_id));
  return "parked";
}

/**
 * Marks the given parked events of K re-driven and XADDs them (after `first`, when given), in
 * their order, before the transaction commits; returns the new entry ids. A parked event whose outbox row is gone (it cannot be, while unprocessed:
 * retention keeps it) is dropped from the queue rather than holding K forever.
 */
export async function redriveWaiting(tx: Q, ref: KeyRef, redriver: Redriver, eventIds: string[], first?: OutboxRow): Promise<string[]> {
  const rows = await outboxRows(tx, eventIds);
  const found = new Set(rows.map((r) => r.id));
  const lost = eventIds.filter((id) => !found.has(id));
  if (lost.length) await tx`delete from parked_events where handler = ${ref.handler} and event_id = any(${lost}::uuid[])`;
  await tx`update parked_events set redriven = true where handler = ${ref.handler} and event_id = any(${[...found]}::uuid[])`;
  return publishFor(tx, redriver.redis, redriver.prefix, ref.handler, first ? [first, ...rows] : rows, redriver.layout);
}

/** Outbox rows of `ids`, in that order (missing ones left out). */
async function outboxRows(q: Q, ids: string[]): Promise<OutboxRow[]> {
  if (ids.length === 0) return [];
  const rows = await q<OutboxRow[]>`
    select id, event_type, aggregate_id, tenant_id, payload::text as payload, created_at,
      trace_context->>'traceparent' as traceparent, trace_context->>'tracestate' as tracestate
    from outbox where id = any(${ids}::uuid[])`;
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.flatMap((id) => byId.get(id) ?? []);
}

/**
 * Parks K behind the latest dead letter of `eventId` (the caller checked its fence in `tx`), the
 * event a run of K just dead-lettered. A released key whose re-driven event failed again is
 * parked behind the new dead letter, and its re-driven rows wait again. A key already parked
 * behind another open dead letter keeps that one. Safe to call again. When an operator retried
 * the letter already (between the dead-lettering and this), its re-driven entry is let through
 * first, and K's later events wait for it like for any release; deleted (or processed since),
 * nothing holds K.
 */
export async function parkKey(tx: Q, ref: KeyRef, eventId: string): Promise<string | undefined> {
  const [letter] = await tx<{ id: string; status: string }[]>`
    select id, status from dead_letters where handler = ${ref.handler} and event_id = ${eventId}
    order by failed_at desc limit 1`;
  if (!letter || (letter.status !== "open" && letter.status !== "retried")) return undefined;
  const parked = await lockKey(tx, ref);
  if (parked?.dead_letter_id === letter.id || (parked?.open && parked.event_id !== eventId)) return undefined;
  const [done] = await tx`select 1 from processed_events where handler = ${ref.handler} and event_id = ${eventId}`;
  if (done) return undefined;
  if (parked) {
    await tx`
      update parked_keys set dead_letter_id = ${letter.id}, event_id = ${eventId}, parked_at = now()
      where handler = ${ref.handler} and event_type = ${ref.eventType} and partition_key = ${ref.key}`;
  } else {
    await tx`
      insert into parked_keys (handler, event_type, partition_key, dead_letter_id, event_id)
      values (${ref.handler}, ${ref.eventType}, ${ref.key}, ${letter.id}, ${eventId})`;
  }
  const waiting = await waitingEvents(tx, ref, eventId);
  await queueEvents(tx, ref, letter.status === "retried" ? [eventId, ...waiting] : waiting, letter.status === "retried" ? 1 : 0);
  return letter.id;
}

/** K's parked events in their order, but `except`. */
export async function waitingEvents(tx: Q, ref: KeyRef, except?: string | null): Promise<string[]> {
  const rows = await tx<{ event_id: string }[]>`
    select event_id from parked_events
    where handler = ${ref.handler} and event_type = ${ref.eventType} and partition_key = ${ref.key}
    order by position`;
  return rows.map((r) => r.event_id).filter((id) => id !== except);
}

/**
 * Replaces K's parked events by `eventIds`, in that order (fresh positions, taken in this order),
 * the first `redriven` of them marked re-driven and the rest waiting.
 */
export async function queueEvents(tx: Q, ref: KeyRef, eventIds: string[], redriven: number): Promise<void> {
  await tx`delete from parked_events where handler = ${ref.handler} and event_type = ${ref.eventType} and partition_key = ${ref.key}`;
  if (eventIds.length === 0) return;
  await tx`
    insert into parked_events (handler, event_type, partition_key, event_id, redriven)
    select ${ref.handler}, ${ref.eventType}, ${ref.key}, t.id, t.n <= ${redriven}
    from unnest(${eventIds}::uuid[]) with ordinality as t(id, n) order by t.n`;
}
