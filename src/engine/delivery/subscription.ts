import type Redis from "ioredis";
import type { Db, Sql } from "../db.ts";
import { toError } from "../support/errors.ts";
import { isUnavailableError } from "../support/unavailable.ts";
import type { Logger } from "../support/logger.ts";
import { sleep } from "../support/sleep.ts";
import type { Waker } from "../outbox/write-event.ts";
import { ClaimKeeper } from "./claim-keeper.ts";
import { attemptsOf } from "./failures.ts";
import { ensureGroup, isNoGroupError } from "./groups.ts";
import type { ResolvedSubscription } from "./subscribe.ts";
import type { Delivery } from "./classify.ts";
import { deliver, type PipelineDeps } from "./pipeline.ts";
import { keys } from "../redis/keys.ts";
import type { OutcomeReport } from "./outcome.ts";
import { claimOwnPending, reclaimEntries } from "../redis/scripts.ts";
import { recoverDeletedEntry } from "./recover.ts";
import type { PauseWatch } from "./pause-watch.ts";
import { SlotPool } from "./slot-pool.ts";
import { isCluster } from "../redis/client.ts";
import type { Layout } from "../partitions/layout.ts";

export interface SubscriptionDeps {
  db: Db;
  sql: Sql;
  /** Shared connection for acks, claims and scripts. */
  redis: Redis;
  /** This subscription's own connection: XREADGROUP BLOCK holds it. */
  blocking: Redis;
  prefix: string;
  consumer: string;
  claimIdleMs: number;
  blockMs: number;
  log: Logger;
  relay?: Waker;
  onOutcome?: (report: OutcomeReport) => void;
  idempotencyTtlMs: number;
  /**
   * The group vanished under the running loops (Redis lost data): recreates it at the stream's
   * end and has the recovery re-publish what it still needed (recovery/watcher.ts). Without it
   * the group is recreated at the stream's start.
   */
  onGroupMissing?: (sub: { eventType: string; handler: string; partition: number }) => Promise<void>;
  /** The fleet's paused handlers: a paused one reads nothing new and finishes what it holds. */
  pauses?: PauseWatch;
  /** With priorityFirst: true while a subscription of this handler on a higher-priority type is backed up. */
  higherBackedUp?: () => boolean;
  /** Where a deleted pending entry is re-driven to: its event's partition under this layout. Defaults to SINGLE_PARTITION. */
  layout?: Layout;
  /** The partition of the event type's stream this loop reads. Defaults to 0. */
  partition?: number;
  /** The handler's slots, shared by the loops of every partition of its type. Defaults to its own, of `concurrency`. */
  slots?: SlotPool;
}

export interface RunningSubscription {
  handler: string;
  eventType: string;
  /** The partition it reads; null for an ordered handler, whose partitions its leases decide. */
  partition: number | null;
  stream: string;
  inFlight(): number;
  /** Paused fleet-wide: reading nothing new. */
  paused(): boolean;
  /** More is waiting than it runs: its last read filled what it asked for, or every slot is busy. */
  backedUp(): boolean;
  /** Stops reading, lets in-flight entries finish until `deadline`, and hands the rest to other consumers. */
  stop(deadline: number): Promise<void>;
}

/**
 * Runs one handler's consumer group on one partition's stream: an XREADGROUP loop for new entries, an
 * XAUTOCLAIM loop for entries that failed (once their backoff has passed) or whose consumer
 * died, and a claim keeper so an entry being worked on is never redelivered meanwhile.
 */
export async function startSubscription(deps: SubscriptionDeps, sub: ResolvedSubscription): Promise<RunningSubscription> {
  const { redis, blocking, consumer, log } = deps;
  const group = sub.handler;
  const partition = deps.partition ?? 0;
  const stream = keys.stream(deps.prefix, sub.eventType, partition);
  const slots = deps.slots ?? new SlotPool(sub.options.concurrency);
  // A rate limit is counted per handler run, so its entries are run one at a time.
  const batchSize = sub.options.rateLimit ? 1 : sub.options.batchSize;
  const slog = log.child(partition === 0 ? { handler: group, eventType: sub.eventType } : { handler: group, eventType: sub.eventType, partition });
  const abort = new AbortController();
  /** Entries this consumer is working on (the claim keeper keeps them from going idle). */
  const held = new Set<string>();
  /** Transactions under way: a single entry, or a batch of new ones. At most `concurrency`. */
  const runs = new Set<Promise<unknown>>();
  const orphans = keys.orphans(deps.prefix, group, sub.eventType, partition);
  let orphansSeen = false;
  const keeper = new ClaimKeeper(redis, stream, group, consumer, deps.claimIdleMs, orphans, slog, () => (orphansSeen = true));
  let reclaimWaiter: (() => void) | null = null;
  /** Set when a wake-up came while the reclaim loop was busy, so it goes round again at once. */
  let wakeMissed = false;
  const wakeReclaim = () => {
    const waiter = reclaimWaiter;
    reclaimWaiter = null;
    if (waiter) waiter();
    else wakeMissed = true;
  };
  let stopping = false;

  await ensureGroup(redis, stream, group);

  const failures = keys.failures(deps.prefix, group, sub.eventType, partition);
  const pipelineDeps: PipelineDeps = {
    failures,
    db: deps.db, sql: deps.sql, redis, prefix: deps.prefix, stream, log: slog, relay: deps.relay, signal: abort.signal,
    onOutcome: deps.onOutcome,
    idempotencyTtlMs: deps.idempotencyTtlMs,
    // MUST stop holding the entry before it can be reclaimed: a reclaim of an id still held is
    // skipped, and that delivery (already counted by Redis) would never run.
    scheduleRetry: async (id: string, delayMs: number, deliveries?: number) => {
      held.delete(id);
      await keeper.release(id, delayMs, deliveries);
      // Claimable by then (its idle time was set above); the reclaim loop need not poll for it.
      setTimeout(wakeReclaim, delayMs).unref();
    },
    outage: { failures: 0 },
  };

  /** Runs entries (new ones, or redeliveries with their attempt numbers) through the pipeline, using one slot. */
  const dispatch = (entries: Delivery[]) => {
    const fresh = entries.filter((e) => !held.has(e.id));
    if (fresh.length === 0) return;
    const ids = fresh.map((e) => e.id);
    for (const id of ids) {
      held.add(id);
      keeper.hold(id);
    }
    // Reads ask for no more than the free slots, but the partitions of a type share them and read
    // at the same time: a batch beyond them waits for one (held, so not redelivered meanwhile).
    // One that is still waiting at stop() is left pending for the next consumer.
    let handedOver = false;
    slots.queue();
    const run = async () => {
      // Stopping before its turn: left held, so stop() hands it to the other consumers at once.
      if (!(await slots.start(() => stopping))) return void (handedOver = true);
      try {
        await deliver(pipelineDeps, sub, fresh);
      } finally {
        slots.give();
      }
    };
    const task: Promise<unknown> = run()
      .catch((thrown) => {
        // Pending entries are claimed again after CLAIM_IDLE_MS: a dependency outage loses nothing.
        if (isUnavailableError(thrown)) slog.warn("entries left pending while Redis or PostgreSQL is unreachable", { entryIds: ids, err: toError(thrown) });
        else slog.error("entries left pending after an error", { entryIds: ids, err: toError(thrown) });
      })
      .finally(() => {
        for (const id of ids) {
          if (!handedOver) keeper.forget(id);
          held.delete(id);
        }
        runs.delete(task);
        if (redeliveryDue) wakeReclaim();
      });
    runs.add(task);
  };
  /** Splits what one read or claim returned into batches, one slot each (the count asked for fits). */
  const dispatchAll = (entries: Delivery[]) => {
    for (let i = 0; i < entries.length; i += batchSize) dispatch(entries.slice(i, i + batchSize));
  };

  const freeSlots = () => slots.free();
  // Set when redeliveries (retries, a dead consumer's entries) are due while every slot is busy:
  // the read loop then leaves the next free slot to them, or under steady load they would wait
  // behind new entries for as long as the load lasts.
  let redeliveryDue = false;
  const setRedeliveryDue = (due: boolean) => {
    redeliveryDue = due;
    slots.setOwed(loopId, due);
  };
  const loopId = {};
  const readSlots = () => slots.freeForReads();
  // A slot freed by another partition's run is this loop's to take when its redeliveries are due.
  const unsubscribeFree = slots.onFree(() => redeliveryDue && wakeReclaim());
  const leaveReaders = slots.joinReader();
  const pool = slots;
  const waitForSlot = async (slots = freeSlots) => {
    while (slots() <= 0 && !stopping) await pool.changed();
  };

  /**
   * The group is gone (Redis lost it, or an operator destroyed it): recreate it, and have the
   * recovery re-publish what it still needed. When that keeps failing (Redis out of memory, the
   * key taken by another type), back off instead of spinning, and say so once, not every loop.
   */
  let groupMissing = 0;
  const restoreGroup = async () => {
    groupMissing++;
    if (groupMissing === 1) slog.warn("consumer group missing; recreating it");
    else await sleep(Math.min(100 * 2 ** groupMissing, 5_000), abort.signal);
    try {
      await deps.onGroupMissing?.({ eventType: sub.eventType, handler: sub.handler, partition });
      await ensureGroup(redis, stream, group);
    } catch (thrown) {
      if (groupMissing === 1) slog.warn("could not recreate the consumer group; backing off", { err: toError(thrown) });
    }
  };

  /** Resolves once this handler is not paused (or the subscription stops). */
  const isPaused = () => deps.pauses?.isPaused(group) ?? false;
  const whilePaused = async () => {
    while (isPaused() && !stopping) await sleep(100, abort.signal);
  };
  // A pause must not wait for a read blocked for up to blockMs: the read is unblocked (it
  // returns as if it timed out) and the loop then sees the pause.
  let reading = false;
  const onCluster = isCluster(blocking);
  let blockingId: number | null = null;
  blocking.on("ready", () => (blockingId = null));
  const unpauseListener = deps.pauses?.onChange((handler, paused) => {
    if (handler === group && paused && reading && blockingId !== null) void redis.call("CLIENT", "UNBLOCK", blockingId).catch(() => {});
  });

  let lastReadFull = false;
  const readLoop = async () => {
    let failures = 0;
    while (!stopping) {
      await waitForSlot(readSlots);
      if (isPaused()) await whilePaused();
      // Higher-priority types of this handler first, while they are backed up.
      while (sub.options.priorityFirst && deps.higherBackedUp?.() && !stopping) await sleep(20, abort.signal);
      if (stopping) break;
      try {
        // On a cluster the reading connection is one of several: a pause waits for the read to end (blockMs).
        if (!onCluster) blockingId ??= Number(await blocking.client("ID"));
        if (isPaused()) continue;
        const asked = slots.readShare() * batchSize;
        if (asked === 0) continue;
        reading = true;
        const reply = (await blocking.xreadgroup(
          "GROUP", group, consumer, "COUNT", asked, "BLOCK", deps.blockMs, "STREAMS", stream, ">",
        ).finally(() => (reading = false))) as [string, [string, string[]][]][] | null;
        lastReadFull = (reply?.[0]?.[1].length ?? 0) >= asked;
        failures = 0;
        groupMissing = 0;
        for (const [, entries] of reply ?? []) dispatchAll(entries.map(([id, fields]) => ({ id, fields, attempt: 1, deliveries: 1 })));
      } catch (thrown) {
        if (stopping) break;
        if (isNoGroupError(thrown)) {
          await restoreGroup();
          continue;
        }
        failures++;
        if (failures === 1) slog.warn("read failed; backing off", { err: toError(thrown) });
        await sleep(Math.min(100 * 2 ** failures, 5_000), abort.signal);
      }
    }
  };

  // Deleted pending entries wait in the orphan set until their event is re-driven from the
  // outbox; removed from the set only after that, so a crash in between is retried, not lost.
  const recoverOrphans = async () => {
    for (const id of await redis.smembers(orphans)) {
      await recoverDeletedEntry({ sql: deps.sql, redis, prefix: deps.prefix, log: slog, layout: deps.layout }, sub, id, partition);
      await redis.srem(orphans, id);
    }
  };

  let cursor = "0-0";
  let ticks = 0;
  const reclaimOnce = async () => {
    // A few XAUTOCLAIM pages per tick at most, and never more entries than free slots.
    // Also every 20th tick: a set left behind by a consumer that crashed mid-recovery.
    let orphaned = orphansSeen || ticks++ % 20 === 0;
    orphansSeen = false;
    if (freeSlots() <= 0) {
      setRedeliveryDue((await redis.xpending(stream, group, "IDLE", deps.claimIdleMs, "-", "+", 1)).length > 0);
    } else {
      setRedeliveryDue(false);
    }
    for (let page = 0; page < 4 && freeSlots() > 0 && !stopping; page++) {
      const r = await reclaimEntries(redis, stream, orphans, group, consumer, deps.claimIdleMs, cursor, freeSlots() * batchSize);
      cursor = r.cursor;
      orphaned ||= r.deleted.length > 0;
      dispatchAll(await attemptsOf(redis, failures, r.entries));
      if (cursor === "0-0") break;
    }
    if (orphaned) await recoverOrphans();
  };
  // Retries this consumer scheduled wake the loop when due, and a freed slot wakes it while
  // redeliveries wait; the tick is for entries of consumers that died (idle for claimIdleMs) and
  // retries handed over by one that stopped. Polling faster costs CPU on an idle machine.
  const reclaimEveryMs = Math.min(1_000, Math.max(50, Math.floor(deps.claimIdleMs / 4)));
  const reclaimLoop = async () => {
    let failing = false;
    while (!stopping) {
      if (!wakeMissed) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(wakeReclaim, reclaimEveryMs);
          reclaimWaiter = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      wakeMissed = false;
      if (stopping) break;
      if (isPaused()) continue; // retries and dead consumers' entries wait too
      try {
        await reclaimOnce();
        failing = false;
      } catch (thrown) {
        if (isNoGroupError(thrown)) await restoreGroup();
        else if (!failing) slog.warn("reclaim failed; retrying every tick", { err: toError(thrown) });
        failing = true;
      }
    }
  };

  // A process restarted under its old name finishes what its previous life left pending before
  // reading anything new, instead of waiting CLAIM_IDLE_MS and racing the other consumers for it.
  const takeBackOwnPending = async () => {
    await whilePaused();
    let after = "-";
    while (!stopping) {
      await waitForSlot();
      if (stopping) break;
      const count = freeSlots() * batchSize;
      const page = await claimOwnPending(redis, stream, orphans, group, consumer, after, count);
      if (page.deleted.length > 0) orphansSeen = true;
      dispatchAll(await attemptsOf(redis, failures, page.entries));
      if (page.scanned < count) break;
      after = `(${page.last}`;
    }
  };

  keeper.start();
  const loops = takeBackOwnPending()
    .catch((thrown) => slog.warn("could not take back this consumer's pending entries; they are reclaimed once idle", { err: toError(thrown) }))
    .then(() => Promise.all([readLoop(), reclaimLoop()]));

  return {
    handler: group,
    eventType: sub.eventType,
    partition,
    stream,
    inFlight: () => held.size,
    paused: isPaused,
    backedUp: () => lastReadFull || freeSlots() <= 0,
    async stop(deadline) {
      stopping = true;
      abort.abort();
      slots.wakeAll();
      wakeReclaim();
      const timeUp = new AbortController();
      const deadlinePassed = sleep(Math.max(0, deadline - Date.now()), timeUp.signal);
      // A read already sent returns within blockMs; its entries are run like any other.
      await Promise.race([loops, deadlinePassed]);
      await Promise.race([Promise.allSettled([...runs]), deadlinePassed]);
      timeUp.abort();
      await keeper.handOver();
      unpauseListener?.();
      unsubscribeFree();
      leaveReaders();
      slots.setOwed(loopId, false);
      blocking.disconnect();
    },
  };
}
