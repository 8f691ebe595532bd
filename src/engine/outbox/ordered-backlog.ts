import type { Q } from "../db.ts";
import type { OutboxRow } from "./claim.ts";
import { keyedRow } from "./publish.ts";
import type { Layout } from "../partitions/layout.ts";

/**
 * Records, in the publishing transaction, what each ordered handler owes for these rows: one
 * ordered_backlog row per (ordered handler of the row's type, row with a partition key), in the
 * order given (outbox order). A row without a key has nothing to keep in order.
 */
export async function recordBacklog(tx: Q, layout: Layout, rows: readonly OutboxRow[]): Promise<void> {
  const handlers: string[] = [];
  const keys: string[] = [];
  const ids: string[] = [];
  const types: string[] = [];
  const created: string[] = [];
  for (const row of rows) {
    const owed = layout.orderedHandlers(row.event_type);
    if (owed.length === 0) continue;
    const key = layout.keyOf(keyedRow(row));
    if (key === null) continue;
    for (const handler of owed) {
      handlers.push(handler);
      keys.push(key);
      ids.push(row.id);
      types.push(row.event_type);
      created.push(new Date(row.created_at).toISOString());
    }
  }
  if (ids.length === 0) return;
  await tx`
    insert into ordered_backlog (handler, partition_key, event_id, event_type, created_at)
    select h, k, e, t, c::timestamptz from unnest(${handlers}::text[], ${keys}::text[], ${ids}::uuid[], ${types}::text[], ${created}::text[])
      with ordinality as u(h, k, e, t, c, i)
    order by i
    on conflict (event_id, handler) do nothing`;
}

export type KeyState =
  /** The event is its key's first: it may run now (also when it has no backlog row: nothing to wait for). */
  | { kind: "head" }
  /** An earlier event of the key is still owed: wait for it. */
  | { kind: "behind"; first: string }
  /** The key's first event is dead-lettered: the key is parked behind it. */
  | { kind: "parked"; first: string; deadLetterId: string };

/** What a run of an ordered handler checks before it starts. */
export interface Turn {
  /** The key has a parked_keys row for the run's type: parking decides (parking.ts), not the backlog. */
  parked: boolean;
  /** Where the event stands in its key's backlog. */
  state: KeyState;
}

/**
 * Where `eventId` stands in its key's backlog for `handler`, and whether the key is parked for
 * the run's type, in one statement (one snapshot). A row whose event the handler has settled
 * already does not count: a consumer can run an event between the relay's XADD and its commit,
 * before the row it settles is visible (maintenance deletes such rows). An event the handler no
 * longer owes (processed, discarded, or published before the handler was ordered) is `head`: it
 * MUST NOT wait for the key's later events, or the entry of an event processed by an owner killed
 * before its XACK would wait forever, in front of them, for its new owner. The parked flag is read
 * unlocked: only the owner of the key's partition parks it, and that owner runs one entry of the
 * key at a time.
 */
export async function readTurn(q: Q, ref: { handler: string; eventType: string; key: string }, eventId: string): Promise<Turn> {
  const { handler, eventType, key } = ref;
  // The relay adds an entry to its stream before its transaction commits the backlog rows: until
  // the event's row shows published, what the key owes is not visible yet.
  const [first] = await q<{ event_id: string | null; dead_letter_id: string | null; uncommitted: boolean; owed: boolean; parked: boolean }[]>`
    select f.event_id, f.dead_letter_id,
      exists (select 1 from outbox o where o.id = ${eventId} and o.published_at is null) as uncommitted,
      exists (select 1 from ordered_backlog b where b.event_id = ${eventId} and b.handler = ${handler}
        and not exists (select 1 from processed_events p where p.event_id = b.event_id and p.handler = b.handler)) as owed,
      exists (select 1 from parked_keys k where k.handler = ${handler} and k.event_type = ${eventType} and k.partition_key = ${key}) as parked
    from (select 1) as one left join lateral (
      select b.event_id,
        (select d.id from dead_letters d where d.event_id = b.event_id and d.handler = b.handler and d.status = 'open' limit 1) as dead_letter_id
      from ordered_backlog b where b.handler = ${handler} and b.partition_key = ${key}
        and not exists (select 1 from processed_events p where p.event_id = b.event_id and p.handler = b.handler)
      order by b.position limit 1) as f on true`;
  const parked = first?.parked === true;
  if (first?.uncommitted) return { parked, state: { kind: "behind", first: eventId } };
  if (!first?.owed || !first.event_id || first.event_id === eventId) return { parked, state: { kind: "head" } };
  if (first.dead_letter_id) return { parked, state: { kind: "parked", first: first.event_id, deadLetterId: first.dead_letter_id } };
  return { parked, state: { kind: "behind", first: first.event_id } };
}

/** In the handler's transaction: these events are no longer owed (processed, or discarded by an operator). */
export async function settleBacklog(q: Q, handler: string, eventIds: readonly string[]): Promise<void> {
  if (eventIds.length === 0) return;
  await q`delete from ordered_backlog where handler = ${handler} and event_id = any(${eventIds as string[]}::uuid[])`;
}

/**
 * Maintenance: deletes rows settled without being seen (see keyState) and rows of events no
 * longer in the outbox (retention deleted them with their records); at most `limit`.
 */
export async function pruneBacklog(q: Q, limit = 5_000): Promise<number> {
  const [row] = await q<{ n: number }[]>`
    with doomed as (
      select b.position from ordered_backlog b
      where exists (select 1 from processed_events p where p.event_id = b.event_id and p.handler = b.handler)
        or not exists (select 1 from outbox o where o.id = b.event_id)
      limit ${limit}),
    gone as (delete from ordered_backlog where position in (select position from doomed) returning 1)
    select count(*)::int as n from gone`;
  return row?.n ?? 0;
}
