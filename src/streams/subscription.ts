import type Redis from "ioredis";
import type { Db, Sql } from "../db/client.ts";
import { toError } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import { sleep } from "../lib/sleep.ts";
import type { Waker } from "../outbox/write-event.ts";
import { ClaimKeeper } from "./claim-keeper.ts";
import { ensureGroup, isNoGroupError } from "./groups.ts";
import type { HandlerOptions, Subscription } from "./handler.ts";
import { keys } from "./keys.ts";
import { processEntry, type OutcomeReport } from "./process-entry.ts";
import { claimOwnPending, reclaimEntries } from "./scripts.ts";
import { recoverDeletedEntry } from "./recover.ts";

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
}

export interface RunningSubscription {
  handler: string;
  eventType: string;
  stream: string;
  inFlight(): number;
  /** Stops reading, lets in-flight entries finish until `deadline`, and hands the rest to other consumers. */
  stop(deadline: number): Promise<void>;
}

/**
 * Runs one handler's consumer group on one stream: an XREADGROUP loop for new entries, an
 * XAUTOCLAIM loop for entries that failed (once their backoff has passed) or whose consumer
 * died, and a claim keeper so an entry being worked on is never redelivered meanwhile.
 */
export async function startSubscription(deps: SubscriptionDeps, sub: Subscription & { options: HandlerOptions }): Promise<RunningSubscription> {
  const { redis, blocking, consumer, log } = deps;
  const group = sub.handler;
  const stream = keys.stream(deps.prefix, sub.eventType);
  const { concurrency, backoff } = sub.options;
  const slog = log.child({ handler: group, eventType: sub.eventType });
  const abort = new AbortController();
  const running = new Map<string, Promise<unknown>>();
  const orphans = keys.orphans(deps.prefix, group, sub.eventType);
  let orphansSeen = false;
  const keeper = new ClaimKeeper(redis, stream, group, consumer, deps.claimIdleMs, orphans, slog, () => (orphansSeen = true));
  let slotWaiter: (() => void) | null = null;
  let stopping = false;

  await ensureGroup(redis, stream, group);

  const entryDeps = {
    db: deps.db, sql: deps.sql, redis, prefix: deps.prefix, stream, log: slog, relay: deps.relay, signal: abort.signal,
    onOutcome: deps.onOutcome,
    idempotencyTtlMs: deps.idempotencyTtlMs,
    scheduleRetry: (id: string, delayMs: number, deliveries?: number) => keeper.release(id, delayMs, deliveries),
    outage: { failures: 0 },
  };

  const dispatch = (id: string, fields: string[], attempt: number) => {
    if (running.has(id)) return;
    keeper.hold(id);
    const task = processEntry(entryDeps, sub, id, fields, attempt)
      .catch((thrown) => slog.error("entry left pending after an error", { entryId: id, err: toError(thrown) }))
      .finally(() => {
        keeper.forget(id);
        running.delete(id);
        slotWaiter?.();
      });
    running.set(id, task);
  };

  const freeSlots = () => concurrency - running.size;
  const waitForSlot = () =>
    freeSlots() > 0 || stopping ? Promise.resolve() : new Promise<void>((r) => (slotWaiter = () => ((slotWaiter = null), r())));

  const readLoop = async () => {
    let failures = 0;
    while (!stopping) {
      await waitForSlot();
      if (stopping) break;
      try {
        const reply = (await blocking.xreadgroup(
          "GROUP", group, consumer, "COUNT", freeSlots(), "BLOCK", deps.blockMs, "STREAMS", stream, ">",
        )) as [string, [string, string[]][]][] | null;
        failures = 0;
        for (const [, entries] of reply ?? []) for (const [id, fields] of entries) dispatch(id, fields, 1);
      } catch (thrown) {
        if (stopping) break;
        if (isNoGroupError(thrown)) {
          slog.warn("consumer group missing; recreating it");
          await ensureGroup(redis, stream, group).catch(() => {});
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
      await recoverDeletedEntry({ sql: deps.sql, redis, prefix: deps.prefix, log: slog }, sub, id);
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
    for (let page = 0; page < 4 && freeSlots() > 0 && !stopping; page++) {
      const r = await reclaimEntries(redis, stream, orphans, group, consumer, deps.claimIdleMs, cursor, freeSlots());
      cursor = r.cursor;
      orphaned ||= r.deleted.length > 0;
      for (const e of r.entries) dispatch(e.id, e.fields, e.deliveries);
      if (cursor === "0-0") break;
    }
    if (orphaned) await recoverOrphans();
  };
  const reclaimEveryMs = Math.min(1_000, Math.max(50, Math.floor(Math.min(backoff.initialMs, deps.claimIdleMs) / 4)));
  const reclaimLoop = async () => {
    let failing = false;
    while (!stopping) {
      await sleep(reclaimEveryMs, abort.signal);
      if (stopping) break;
      try {
        await reclaimOnce();
        failing = false;
      } catch (thrown) {
        if (isNoGroupError(thrown)) await ensureGroup(redis, stream, group).catch(() => {});
        else if (!failing) slog.warn("reclaim failed; retrying every tick", { err: toError(thrown) });
        failing = true;
      }
    }
  };

  // A process restarted under its old name finishes what its previous life left pending before
  // reading anything new, instead of waiting CLAIM_IDLE_MS and racing the other consumers for it.
  const takeBackOwnPending = async () => {
    let after = "-";
    while (!stopping) {
      await waitForSlot();
      if (stopping) break;
      const count = freeSlots();
      const page = await claimOwnPending(redis, stream, orphans, group, consumer, after, count);
      if (page.deleted.length > 0) orphansSeen = true;
      for (const e of page.entries) dispatch(e.id, e.fields, e.deliveries);
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
    stream,
    inFlight: () => running.size,
    async stop(deadline) {
      stopping = true;
      abort.abort();
      slotWaiter?.();
      const timeUp = new AbortController();
      const deadlinePassed = sleep(Math.max(0, deadline - Date.now()), timeUp.signal);
      // A read already sent returns within blockMs; its entries are run like any other.
      await Promise.race([loops, deadlinePassed]);
      await Promise.race([Promise.allSettled([...running.values()]), deadlinePassed]);
      timeUp.abort();
      await keeper.handOver();
      blocking.disconnect();
    },
  };
}
