import type Redis from "ioredis";
import type { Sql } from "../db.ts";
import { keys } from "../redis/keys.ts";
import { acquireLease, heartbeatMember, swapLease } from "../redis/scripts.ts";
import { toError } from "../support/errors.ts";
import type { Logger } from "../support/logger.ts";
import { fairShare } from "./assign.ts";
import { raiseFence } from "./fence.ts";

export interface LeaseDeps {
  sql: Sql;
  redis: Redis;
  prefix: string;
  handler: string;
  eventType: string;
  consumer: string;
  /** Partitions move to another member within this long after their owner stops or dies. */
  claimIdleMs: number;
  /** The partitions shared out (every partition the type was ever published to). */
  partitions: readonly number[];
  log: Logger;
}

export interface LeaseEvents {
  /** This consumer now owns `partition` under `generation` (fenced: the old owner can commit nothing more). */
  acquired(partition: number, generation: number): void;
  /** The lease was lost (not renewed in time, or taken): stop the partition's work at once. */
  lost(partition: number): void;
  /** Hand `partition` over: stop reading it and let what runs finish; the lease is deleted after. */
  releasing(partition: number): Promise<void>;
}

export interface PartitionLeases {
  /** Partition -> the generation it is owned under. */
  owned(): ReadonlyMap<number, number>;
  /** Releases every lease (after `releasing` of each) and leaves the group's members. */
  stop(): Promise<void>;
}

interface Held {
  value: string;
  generation: number;
  /** When the lease was last known to be ours; past the TTL without a renewal it is treated as lost. */
  renewedAt: number;
}

/**
 * Shares an ordered handler's partitions among its live consumers. Each consumer heartbeats into
 * the group's members (keys.members) and takes the partitions rendezvous hashing gives it over the
 * live members, each under a lease (keys.lease, `<consumer>|<generation>`) with a TTL of 3/4 of
 * claimIdleMs, renewed every 1/4: a consumer that dies loses its partitions, and its membership,
 * within 3/4 of claimIdleMs, and the next tick of the others takes them, so partitions move
 * within claimIdleMs. A joining consumer is seen at the others' next tick; they hand over what it
 * now wins. Taking a partition raises its fencing generation in PostgreSQL (fence.ts) before any
 * work, so two consumers never commit for one partition at once, even when a lease expires under
 * a paused process.
 */
export function startLeases(deps: LeaseDeps, events: LeaseEvents): PartitionLeases {
  const { redis, consumer, log } = deps;
  const tickMs = Math.max(20, Math.floor(deps.claimIdleMs / 4));
  const ttlMs = Math.max(tickMs * 2, Math.floor((deps.claimIdleMs * 3) / 4));
  const members = keys.members(deps.prefix, deps.handler, deps.eventType);
  const leaseOf = (p: number) => keys.lease(deps.prefix, deps.handler, deps.eventType, p);
  const held = new Map<number, Held>();
  /** Partitions being taken or handed over right now: the tick leaves them alone meanwhile. */
  const busy = new Set<number>();
  let stopped = false;
  let failing = false;

  const lose = (p: number, why: string) => {
    if (!held.delete(p)) return;
    log.warn("lost a partition lease; its lane stops", { partition: p, why });
    events.lost(p);
  };

  const take = async (p: number) => {
    const pending = `${consumer}|0`;
    if (!(await acquireLease(redis, leaseOf(p), consumer, pending, ttlMs))) return;
    const generation = await raiseFence(deps.sql, { handler: deps.handler, eventType: deps.eventType, partition: p }, consumer);
    const value = `${consumer}|${generation}`;
    // The fence may have waited for the old owner's runs; the lease must still be this one's.
    if (stopped || !(await swapLease(redis, leaseOf(p), pending, value, ttlMs))) return;
    held.set(p, { value, generation, renewedAt: Date.now() });
    log.info("took a partition", { partition: p, generation });
    events.acquired(p, generation);
  };

  const hand = async (p: number) => {
    const h = held.get(p);
    if (!h) return;
    await events.releasing(p);
    held.delete(p);
    await swapLease(redis, leaseOf(p), h.value, null).catch(() => {});
  };

  const background = (p: number, work: (p: number) => Promise<void>, what: string) => {
    busy.add(p);
    void work(p)
      .catch((thrown) => log.warn(`could not ${what} a partition; trying again next tick`, { partition: p, err: toError(thrown) }))
      .finally(() => busy.delete(p));
  };

  const tick = async () => {
    const now = Date.now();
    for (const [p, h] of held) if (now - h.renewedAt > ttlMs) lose(p, "not renewed in time");
    const live = await heartbeatMember(redis, members, consumer, ttlMs);
    for (const [p, h] of [...held]) {
      const sent = Date.now();
      if (await swapLease(redis, leaseOf(p), h.value, h.value, ttlMs)) h.renewedAt = sent;
      else lose(p, "taken by another consumer or expired");
    }
    if (stopped) return;
    const mine = new Set(live.includes(consumer) ? fairShare(consumer, deps.partitions, live) : []);
    for (const p of deps.partitions) {
      if (busy.has(p)) continue;
      if (mine.has(p) && !held.has(p)) background(p, take, "take");
      else if (!mine.has(p) && held.has(p)) background(p, hand, "hand over");
    }
  };

  let timer: ReturnType<typeof setTimeout> | null = null;
  let running: Promise<void> = Promise.resolve();
  const loop = () => {
    running = tick()
      .then(() => {
        if (failing) log.info("partition leases renewed again");
        failing = false;
      })
      .catch((thrown) => {
        if (!failing) log.warn("could not renew partition leases; retrying every tick", { err: toError(thrown) });
        failing = true;
      })
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, tickMs);
      });
  };
  loop();

  return {
    owned: () => new Map([...held].map(([p, h]) => [p, h.generation])),
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
      while (busy.size > 0) await new Promise((r) => setTimeout(r, 10));
      await Promise.all([...held.keys()].map((p) => hand(p).catch(() => {})));
      await heartbeatMember(redis, members, consumer, ttlMs, true).catch(() => {});
    },
  };
}
