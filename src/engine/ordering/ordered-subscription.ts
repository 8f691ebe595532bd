import type Redis from "ioredis";
import { duplicateRedis } from "../redis/client.ts";
import { keys } from "../redis/keys.ts";
import type { ResolvedSubscription } from "../delivery/subscribe.ts";
import type { RunningSubscription, SubscriptionDeps } from "../delivery/subscription.ts";
import { SINGLE_PARTITION, type Layout } from "../partitions/layout.ts";
import { startLane, type Lane } from "./lane.ts";
import { startLeases } from "./leases.ts";
import { SlotPool } from "../delivery/slot-pool.ts";

export interface OrderedSubscriptionDeps extends SubscriptionDeps {
  /** The engine's layout: each event's partition key, and the partition re-driven events go to. */
  layout?: Layout;
  /** A new connection for a lane's blocking reads; defaults to a duplicate of `redis`. */
  connect?: () => Redis;
}

/**
 * Runs an ordered handler (`ordered: true`) on one event type: the live consumers of its group
 * share the type's partitions through leases (leases.ts), and each owned partition runs as a lane
 * (lane.ts) in which the events of one partition key run one at a time, in stream order, and a
 * key whose event is dead-lettered is parked (parking.ts) while other keys go on. See README
 * "Ordering" for the guarantee. `partitions` are all the partitions the type was ever published
 * to. `deps.blocking` is not used (each lane opens its own); it is closed on stop.
 */
export async function startOrderedSubscription(
  deps: OrderedSubscriptionDeps, sub: ResolvedSubscription, partitions: readonly number[],
): Promise<RunningSubscription> {
  const layout = deps.layout ?? SINGLE_PARTITION;
  const connect = deps.connect ?? (() => duplicateRedis(deps.redis, deps.blockMs));
  const slog = deps.log.child({ handler: sub.handler, eventType: sub.eventType, ordered: true });
  const slots = new SlotPool(sub.options.concurrency);
  const lanes = new Map<number, { lane: Lane; abort: AbortController }>();
  const isPaused = () => deps.pauses?.isPaused(sub.handler) ?? false;
  let stopDeadline: number | undefined;

  const open = (partition: number, generation: number) => {
    const abort = new AbortController();
    const fence = { handler: sub.handler, eventType: sub.eventType, partition };
    const lane = startLane({
      sql: deps.sql, sub, layout, fence, generation,
      redriver: { redis: deps.redis, prefix: deps.prefix, layout },
      pipeline: {
        db: deps.db, sql: deps.sql, redis: deps.redis, prefix: deps.prefix, log: slog, relay: deps.relay,
        signal: abort.signal, onOutcome: deps.onOutcome, idempotencyTtlMs: deps.idempotencyTtlMs,
        stream: keys.stream(deps.prefix, sub.eventType, partition),
        failures: keys.failures(deps.prefix, sub.handler, sub.eventType, partition),
        outage: { failures: 0 },
      },
      orphans: keys.orphans(deps.prefix, sub.handler, sub.eventType, partition),
      blocking: connect(), consumer: deps.consumer, blockMs: deps.blockMs, isPaused, slots,
      onGroupMissing: deps.onGroupMissing ? () => deps.onGroupMissing!({ eventType: sub.eventType, handler: sub.handler, partition }) : undefined,
      onFenced: () => close(partition, false),
    });
    lanes.set(partition, { lane, abort });
  };
  const close = async (partition: number, wait: boolean, deadline?: number) => {
    const l = lanes.get(partition);
    if (!l) return;
    lanes.delete(partition);
    l.abort.abort();
    await l.lane.stop(wait, deadline ?? Date.now() + deps.claimIdleMs);
  };

  const leases = startLeases(
    {
      sql: deps.sql, redis: deps.redis, prefix: deps.prefix, handler: sub.handler, eventType: sub.eventType,
      consumer: deps.consumer, claimIdleMs: deps.claimIdleMs, partitions, log: slog,
    },
    {
      acquired: open,
      lost: (p) => void close(p, false),
      releasing: (p) => close(p, true, stopDeadline),
    },
  );

  const all = () => [...lanes.values()].map((l) => l.lane);
  return {
    handler: sub.handler,
    eventType: sub.eventType,
    partition: null,
    stream: keys.stream(deps.prefix, sub.eventType),
    inFlight: () => all().reduce((n, l) => n + l.inFlight(), 0),
    paused: isPaused,
    backedUp: () => slots.free() <= 0 || all().some((l) => l.queued() > l.inFlight()),
    async stop(deadline) {
      stopDeadline = deadline;
      // Each lane lets what runs finish until the deadline, then its lease is deleted, so the
      // next owner takes the partition at once rather than after the lease runs out.
      await leases.stop();
      await Promise.all([...lanes.keys()].map((p) => close(p, true, deadline)));
      deps.blocking.disconnect();
    },
  };
}
