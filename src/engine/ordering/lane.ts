import type Redis from "ioredis";
import type { Delivery } from "../delivery/classify.ts";
import { attemptsOf } from "../delivery/failures.ts";
import { ensureGroup, isNoGroupError } from "../delivery/groups.ts";
import { decodeEntry } from "../redis/entry.ts";
import { reclaimEntries } from "../redis/scripts.ts";
import { toError } from "../support/errors.ts";
import type { Logger } from "../support/logger.ts";
import { sleep } from "../support/sleep.ts";
import { repairPartition } from "./repair.ts";
import { keyOfEvent, runEntry, type EntryContext } from "./run-entry.ts";
import type { SlotPool } from "../delivery/slot-pool.ts";

export interface LaneDeps extends EntryContext {
  /** This lane's own connection: XREADGROUP BLOCK holds it. */
  blocking: Redis;
  consumer: string;
  blockMs: number;
  /** The handler is paused fleet-wide: read nothing new. */
  isPaused: () => boolean;
  slots: SlotPool;
  orphans: string;
  onGroupMissing?: () => Promise<void>;
  /** The partition's fence moved on under a run: the lane has stopped; give the partition up. */
  onFenced: () => void;
}

export interface Lane {
  /** Entries running now. */
  inFlight(): number;
  /** Read and waiting for their turn. */
  queued(): number;
  /**
   * Stops reading and starting entries. With `wait`, lets running entries finish until
   * `deadline`; without, returns at once (the lease is lost: their commits are fenced anyway).
   * Entries not run stay pending in the group, for the partition's next owner.
   */
  stop(wait: boolean, deadline?: number): Promise<void>;
}

/** Entries read ahead of their turn, at most: enough that other keys go on while one key waits for a retry. */
const READ_AHEAD = 1_000;

/**
 * One owned partition of an ordered handler. The entries of one partition key run one at a time
 * in stream order; different keys in parallel, up to the handler's concurrency (shared by every
 * lane of the subscription). First it repairs what a dead owner left half done and takes over
 * every pending entry of the partition (XAUTOCLAIM from min idle 0: whoever held them is fenced
 * off now), in id order; then it reads new entries. A failing entry is run again after its backoff
 * while its key's later entries wait and other keys go on.
 */
export function startLane(deps: LaneDeps): Lane {
  const { sub, pipeline, blocking, consumer, slots } = deps;
  const log: Logger = pipeline.log.child({ partition: deps.fence.partition });
  const { stream, failures, redis } = pipeline;
  const group = sub.handler;
  /** Per key, its entries in stream order; the head runs or waits for its retry. */
  const queues = new Map<string, Delivery[]>();
  /** Keys whose head is running or waiting for its backoff. */
  const blocked = new Set<string>();
  const running = new Set<Promise<void>>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let size = 0;
  let stopping = false;
  let readWaiter: (() => void) | null = null;

  const keyOf = (d: Delivery) => {
    const decoded = decodeEntry(d.fields);
    const key = "event" in decoded ? keyOfEvent(deps.layout, decoded.event) : null;
    // An entry with no key (or not an event) keeps no order with others: a queue of its own.
    return key === null ? `\u0000${d.id}` : `k:${key}`;
  };

  const enqueue = (entries: Delivery[]) => {
    for (const d of entries) {
      const k = keyOf(d);
      const q = queues.get(k);
      if (q) {
        if (!q.some((e) => e.id === d.id)) q.push(d), size++;
      } else {
        queues.set(k, [d]);
        size++;
      }
    }
    pump();
  };

  const pump = () => {
    if (stopping) return;
    for (const [k, q] of queues) {
      if (blocked.has(k) || q.length === 0) continue;
      if (!slots.tryTake()) return;
      blocked.add(k);
      start(k, q[0]!);
    }
  };
  const unsubscribe = slots.onFree(pump);

  const finish = (k: string) => {
    const q = queues.get(k)!;
    q.shift();
    size--;
    if (q.length === 0) queues.delete(k);
    blocked.delete(k);
    readWaiter?.();
  };

  const retryLater = (k: string, d: Delivery, delayMs: number, deliveries?: number) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      void attemptsOf(redis, failures, [{ ...d, deliveries: (deliveries ?? d.deliveries) + 1 }])
        .then(([next]) => {
          const q = queues.get(k);
          if (q && q[0]?.id === d.id) q[0] = next!;
        })
        .catch(() => {})
        .finally(() => {
          blocked.delete(k);
          pump();
        });
    }, delayMs);
    timers.add(timer);
  };

  let troubles = 0;
  const start = (k: string, d: Delivery) => {
    const task: Promise<void> = runEntry(deps, d)
      .then((result) => {
        troubles = 0;
        if (result.kind === "done") finish(k);
        else if (result.kind === "retry") retryLater(k, d, result.delayMs, result.deliveries);
        else {
          log.warn("partition taken over by another consumer; this lane stops");
          stopping = true;
          deps.onFenced();
        }
      })
      .catch((thrown) => {
        // PostgreSQL or Redis unavailable around the run: the same entry again, without using an attempt.
        if (troubles++ === 0) log.warn("could not run an entry; retrying it", { entryId: d.id, err: toError(thrown) });
        retryLater(k, d, Math.min(100 * 2 ** troubles, 5_000), d.deliveries - 1);
      })
      .finally(() => {
        running.delete(task);
        slots.give();
      });
    running.add(task);
  };

  const takeOver = async () => {
    await repairPartition(deps.sql, deps.fence, deps.generation, deps.layout, deps.redriver);
    let cursor = "0-0";
    do {
      const page = await reclaimEntries(redis, stream, deps.orphans, group, consumer, 0, cursor, 500);
      cursor = page.cursor;
      if (page.deleted.length) log.warn("pending entries were deleted from the stream; left for recovery", { entryIds: page.deleted });
      enqueue(await attemptsOf(redis, failures, page.entries));
    } while (cursor !== "0-0" && !stopping);
  };

  const readLoop = async () => {
    let failing = 0;
    while (!stopping) {
      while ((size >= READ_AHEAD || deps.isPaused()) && !stopping) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 100);
          readWaiter = () => (clearTimeout(timer), (readWaiter = null), resolve());
        });
      }
      if (stopping) break;
      try {
        const reply = (await blocking.xreadgroup(
          "GROUP", group, consumer, "COUNT", Math.max(1, Math.min(100, READ_AHEAD - size)), "BLOCK", deps.blockMs, "STREAMS", stream, ">",
        )) as [string, [string, string[]][]][] | null;
        failing = 0;
        for (const [, entries] of reply ?? []) enqueue(entries.map(([id, fields]) => ({ id, fields, attempt: 1, deliveries: 1 })));
      } catch (thrown) {
        if (stopping) break;
        if (isNoGroupError(thrown)) {
          await deps.onGroupMissing?.().catch(() => {});
          await ensureGroup(redis, stream, group).catch(() => {});
          continue;
        }
        if (failing++ === 0) log.warn("read failed; backing off", { err: toError(thrown) });
        await sleep(Math.min(100 * 2 ** failing, 5_000), pipeline.signal);
      }
    }
  };

  const loops = (async () => {
    for (let failing = 0; !stopping; failing++) {
      try {
        await ensureGroup(redis, stream, group);
        await takeOver();
        break;
      } catch (thrown) {
        if (failing === 0) log.warn("could not take the partition's pending entries over; retrying", { err: toError(thrown) });
        await sleep(Math.min(100 * 2 ** failing, 5_000), pipeline.signal);
      }
    }
    await readLoop();
  })();

  return {
    inFlight: () => running.size,
    queued: () => size,
    async stop(wait, deadline = Date.now()) {
      stopping = true;
      unsubscribe();
      for (const timer of timers) clearTimeout(timer);
      readWaiter?.();
      // A read in flight is cut off: what Redis delivered to it stays pending for the next owner.
      blocking.disconnect();
      if (!wait) return;
      const timeUp = new AbortController();
      const passed = sleep(Math.max(0, deadline - Date.now()), timeUp.signal);
      await Promise.race([Promise.allSettled([loops, ...running]), passed]);
      timeUp.abort();
    },
  };
}
