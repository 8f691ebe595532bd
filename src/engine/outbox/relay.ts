import type Redis from "ioredis";
import type { Q, Sql } from "../db.ts";
import { isReservedEventType, keys } from "../redis/keys.ts";
import { isUnpublishable, keyedRow, xaddRows } from "./publish.ts";
import { holdPublishBarrier } from "./barrier.ts";
import { claimOrderedRows, claimOutboxBatch, markPublished, nextDueAt, type OutboxRow } from "./claim.ts";
import { recordBacklog } from "./ordered-backlog.ts";
import { knownToFleet } from "./catalogs.ts";
import { setAsideRows, type SetAside } from "./set-aside.ts";
import { recordPartitions, SINGLE_PARTITION, type Layout } from "../partitions/layout.ts";

/** Rows published per event type. */
export type PublishedCounts = Record<string, number>;

export interface RelayDeps {
  sql: Sql;
  redis: Redis;
  prefix: string;
  batchSize: number;
  /**
   * The event types this service's subscriptions read. A row of any other type (a typo in another
   * service's INSERT) is set aside as a `relay` dead letter instead of going to a stream nobody
   * reads, unless some consumer group already reads its stream (a handler that only a newer
   * version of the fleet runs, during a rolling deploy). Absent or empty: every type is published,
   * for processes and tests that run only some of the handlers.
   */
  knownEventTypes?: ReadonlySet<string>;
  /**
   * Types this relay leaves to the rest of the fleet for now: unknown here but known to another
   * machine's code (a rolling deploy), filled in as they are found. Each drain starts it empty.
   */
  waiting?: Set<string>;
  /** Share of each batch taken oldest first whatever the priority (RELAY_OLDEST_SHARE). Defaults to 0.1. */
  oldestShare?: number;
  /** Delayed rows are due: claim them too. Set per drain (see drainOutbox). */
  withDue?: boolean;
  /** Called after each batch commits, with its rows per event type (also when some of its rows failed). */
  onPublished?: (counts: PublishedCounts) => void;
  /** Called after a batch that set rows aside commits, with how many. */
  onSetAside?: (count: number) => void;
  /** Which partition each row goes to, and which types have ordered handlers. Defaults to one partition per type. */
  layout?: Layout;
  /** Types whose partition count this process has recorded (stream_partitions) already. */
  recorded?: Set<string>;
}

/**
 * Publishes one batch: claim (FOR UPDATE SKIP LOCKED), XADD in one pipeline, mark published the
 * rows Redis accepted, commit. A row that can never go out (unknown type, reserved type, its
 * stream key holds another type) is dead-lettered in the same transaction and so never holds
 * back the rows behind it. Rows of a type unknown here but known to another machine of the fleet
 * are left unpublished for it and skipped from then on (`waiting`). Returns how many rows it took
 * off the queue (published or set aside) and how many it claimed, or, once the rest is committed,
 * throws if Redis itself failed some XADDs: only those rows stay unpublished, and nothing is
 * dead-lettered for an outage. A crash between XADD and commit publishes those rows again on the
 * next run; consumers absorb the duplicates.
 */
export async function relayBatch(deps: RelayDeps): Promise<{ taken: number; claimed: number }> {
  const { sql, redis, prefix, batchSize, onPublished, onSetAside } = deps;
  const layout = deps.layout ?? SINGLE_PARTITION;
  const { published, counts, setAside, failed, claimed, newlyRecorded } = await sql.begin(async (tx) => {
    // Orders this batch against a recovery from Redis data loss: see recovery/recover.ts.
    await holdPublishBarrier(tx, prefix);
    const ordered = [...layout.ordered];
    const orderedRows = (await lockOrderedTypes(tx, prefix, ordered)) ? await claimOrderedRows(tx, ordered, batchSize, !!deps.withDue) : [];
    // What ordered handlers owe is recorded in claim order, published or not: a row whose XADD
    // fails keeps its place ahead of the later rows of its key that got out.
    await recordBacklog(tx, layout, orderedRows);
    const claimed = [
      ...orderedRows,
      ...(await claimOutboxBatch(tx, batchSize, { skipTypes: [...(deps.waiting ?? []), ...ordered], oldestShare: deps.oldestShare ?? 0.1, withDue: !!deps.withDue })),
    ];
    const { unknown, waiting } = await unknownTypes(redis, prefix, claimed, deps.knownEventTypes);
    for (const type of waiting) deps.waiting?.add(type);
    const rows = waiting.size ? claimed.filter((r) => !waiting.has(r.event_type)) : claimed;
    const toSend = rows.filter((r) => !unknown.has(r.event_type));
    const newlyRecorded = await recordLayout(tx, layout, toSend.map((r) => r.event_type), deps.recorded);
    const results = toSend.length === 0 ? [] : await xaddRows(redis, prefix, toSend, undefined, layout);
    const ids: string[] = [];
    const streamIds: string[] = [];
    const partitions: number[] = [];
    const aside: SetAside[] = rows.filter((r) => unknown.has(r.event_type)).map((row) => ({
      row, reason: "unknown_event_type",
      error: `event type "${row.event_type}" has no handler: no subscription of this service reads it and no consumer group exists on its stream`,
    }));
    let failed: { row: OutboxRow; err: Error }[] = [];
    const counts: PublishedCounts = {};
    toSend.forEach((row, i) => {
      const result = results[i]!;
      if (result instanceof Error) {
        if (isUnpublishable(result)) aside.push({ row, reason: "unpublishable", error: `event type "${row.event_type}" cannot be published: ${result.message}` });
        else failed.push({ row, err: result });
      } else {
        ids.push(row.id);
        streamIds.push(result);
        partitions.push(layout.partitionOf(keyedRow(row)));
        counts[row.event_type] = (counts[row.event_type] ?? 0) + 1;
      }
    });
    if (ids.length > 0) await markPublished(tx, ids, streamIds, partitions);
    if (aside.length > 0) {
      try {
        await setAsideRows(tx, redis, prefix, aside);
      } catch (thrown) {
        // Redis refused the dead-letter copies (it is failing as a whole): those rows stay
        // unpublished and are tried again. A PostgreSQL error aborts the transaction anyway.
        const err = thrown instanceof Error ? thrown : new Error(String(thrown));
        failed = [...failed, ...aside.map(({ row }) => ({ row, err }))];
        aside.length = 0;
      }
    }
    return { published: ids.length, counts, setAside: aside.length, failed, claimed: claimed.length, newlyRecorded };
  });
  // Only once committed: a rolled-back record must be written again by the next batch.
  for (const type of newlyRecorded) deps.recorded?.add(type);
  // Reported once committed, before a failure is thrown: these rows are out whatever follows.
  if (published > 0) onPublished?.(counts);
  if (setAside > 0) onSetAside?.(setAside);
  const [first] = failed;
  if (first) {
    throw new Error(
      `XADD failed for ${failed.length} outbox row(s), first ${first.row.id} (${first.row.event_type}): ${first.err.message}`,
      { cause: first.err },
    );
  }
  return { taken: published + setAside, claimed };
}

/**
 * Types with an ordered handler are published by one relay transaction at a time, fleet-wide (a
 * transaction advisory lock, held to its commit), oldest first: no batch can publish a newer row
 * of them before an older one is out, so each partition gets its rows in outbox order and the
 * ordered backlog (outbox/ordered-backlog.ts) lists each key's events in that order. False when another
 * transaction holds it: this batch leaves the ordered types alone.
 */
async function lockOrderedTypes(tx: Q, prefix: string, ordered: readonly string[]): Promise<boolean> {
  if (ordered.length === 0) return false;
  const [row] = await tx<{ locked: boolean }[]>`
    select pg_try_advisory_xact_lock(hashtext('orderstream-relay'), hashtext(${prefix} || ':ordered')) as locked`;
  return !!row?.locked;
}

/**
 * Before a type is first published with more than one partition, records its count in the same
 * transaction (stream_partitions): every consumer then reads that many partitions of it, even
 * after the count is lowered again.
 */
async function recordLayout(tx: Q, layout: Layout, types: string[], recorded: ReadonlySet<string> = new Set()): Promise<string[]> {
  const counts: Record<string, number> = {};
  for (const type of new Set(types)) if (!recorded.has(type) && layout.count(type) > 1) counts[type] = layout.count(type);
  if (Object.keys(counts).length > 0) await recordPartitions(tx, counts);
  return Object.keys(counts);
}

/**
 * Of the batch's event types that no subscription here knows and no consumer group reads: those
 * another live machine's code knows (`waiting`: that machine publishes them; during a rolling
 * deploy the new code's types must not be set aside by the old code), and the rest (`unknown`:
 * set aside). Throws when Redis cannot say (it is down): an outage must not dead-letter anything.
 */
async function unknownTypes(redis: Redis, prefix: string, rows: OutboxRow[], known: ReadonlySet<string> | undefined): Promise<{ unknown: Set<string>; waiting: Set<string> }> {
  const unknown = new Set<string>();
  if (!known || known.size === 0) return { unknown, waiting: new Set() };
  // Reserved types are refused by the XADD step, with a reason that says so.
  const candidates = [...new Set(rows.map((r) => r.event_type))].filter((t) => !known.has(t) && !isReservedEventType(t));
  if (candidates.length === 0) return { unknown, waiting: new Set() };
  const pipeline = redis.pipeline();
  for (const type of candidates) pipeline.xinfo("GROUPS", keys.stream(prefix, type));
  const replies = (await pipeline.exec()) ?? [];
  candidates.forEach((type, i) => {
    const [err, groups] = replies[i] ?? [new Error("no reply"), null];
    if (err && !/no such key|WRONGTYPE/i.test(err.message)) throw err;
    if (err || (groups as unknown[]).length === 0) unknown.add(type);
  });
  const waiting = unknown.size ? await knownToFleet(redis, prefix, [...unknown]) : new Set<string>();
  for (const type of waiting) unknown.delete(type);
  return { unknown, waiting };
}

/**
 * Publishes batches until one comes back short of full, so a backlog drains in one run, with
 * `concurrency` loops at once. Throws the first failure once every loop has stopped. Delayed rows
 * are claimed only when one is known to be due (one look at the delayed rows' index per drain).
 */
export async function drainOutbox(deps: RelayDeps, shouldStop: () => boolean = () => false, concurrency = 1): Promise<number> {
  const next = await nextDueAt(deps.sql);
  // Several loops overlap one batch's PostgreSQL work with another's XADDs; SKIP LOCKED keeps
  // them (like relays on several machines) from ever claiming the same row. Waiting types are
  // looked at again at every drain: their machines may be gone, or a group may read them by now.
  // Types recorded once stay recorded for the life of the relay, not only of this drain.
  deps.recorded ??= new Set<string>();
  const drain = { ...deps, waiting: new Set<string>(), withDue: !!next?.due };
  const loop = async () => {
    let total = 0;
    for (;;) {
      const { taken, claimed } = await relayBatch(drain);
      total += taken;
      if (claimed < deps.batchSize || shouldStop()) return total;
    }
  };
  const results = await Promise.allSettled(Array.from({ length: concurrency }, loop));
  const failure = results.find((r) => r.status === "rejected");
  if (failure) throw failure.reason;
  return results.reduce((sum, r) => sum + (r.status === "fulfilled" ? r.value : 0), 0);
}
