import type Redis from "ioredis";
import { toError, type Logger, type OutcomeReport } from "../engine/index.ts";
import { consoleKeys } from "./keys.ts";

/**
 * The console's charts: per handler and minute, how many events it processed, how many runs
 * failed, and a histogram of commit-to-done latency. Every machine adds its counts to the same
 * per-minute hashes in Redis, so the charts show the fleet, not one process. The window is small
 * (two hours of minutes, each key expiring on its own) and nothing depends on it: counts that
 * cannot be written are retried at the next flush and dropped once they are older than the window.
 */

const MINUTE_MS = 60_000;
/** How long a minute's counts are kept: the chart shows the last hour, with room for clock skew. */
export const ACTIVITY_TTL_MS = 2 * 3_600_000;
/** Upper bounds (ms) of the latency buckets; one more bucket holds everything above the last. */
export const LATENCY_BOUNDS_MS = [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000];

// Hash fields: "<kind>:<handler>", split on the first colon (a handler name may contain colons).
const field = {
  processed: (handler: string) => `p:${handler}`,
  failed: (handler: string) => `f:${handler}`,
  latency: (handler: string, bucket: number) => `l${bucket}:${handler}`,
};

export interface ActivityRecorder {
  /** The engine's onOutcome hook: counts in memory, no I/O. */
  record(report: OutcomeReport): void;
  /** Writes what was counted since the last flush (also run every `flushMs`). */
  flush(): Promise<void>;
  /** Stops the timer and flushes once more. */
  stop(): Promise<void>;
}

export interface ActivityOptions {
  redis: Redis;
  prefix: string;
  log: Logger;
  /** Defaults to 5 s. */
  flushMs?: number;
  now?: () => number;
}

export function createActivityRecorder({ redis, prefix, log, flushMs = 5_000, now = Date.now }: ActivityOptions): ActivityRecorder {
  /** minute -> field -> count, not yet written. */
  let pending = new Map<number, Map<string, number>>();
  let failing = false;
  const add = (minute: number, name: string, n = 1) => {
    let fields = pending.get(minute);
    if (!fields) pending.set(minute, (fields = new Map()));
    fields.set(name, (fields.get(name) ?? 0) + n);
  };

  let flushing: Promise<void> | null = null;
  const flushOnce = async () => {
    const batch = pending;
    pending = new Map();
    const oldest = Math.floor((now() - ACTIVITY_TTL_MS) / MINUTE_MS);
    const minutes = [...batch.keys()].filter((m) => m > oldest);
    if (minutes.length === 0) return;
    const pipeline = redis.pipeline();
    for (const minute of minutes) {
      const key = consoleKeys.activityMinute(prefix, minute);
      for (const [name, n] of batch.get(minute)!) pipeline.hincrby(key, name, n);
      pipeline.pexpire(key, ACTIVITY_TTL_MS);
    }
    try {
      const replies = (await pipeline.exec()) ?? [];
      const failed = replies.find(([err]) => err);
      if (failed) throw failed[0];
      if (failing) log.info("activity counts are written again");
      failing = false;
    } catch (thrown) {
      // Put back for the next flush. A reply lost after Redis applied it counts twice: a chart may
      // overstate one minute, which is better than a gap during every Redis hiccup.
      for (const minute of minutes) for (const [name, n] of batch.get(minute)!) add(minute, name, n);
      if (!failing) log.warn("could not write activity counts; retrying at the next flush", { err: toError(thrown) });
      failing = true;
    }
  };
  const flush = () => {
    flushing ??= flushOnce().finally(() => (flushing = null));
    return flushing;
  };
  const timer = setInterval(() => void flush(), flushMs);
  timer.unref?.();

  return {
    record(r) {
      const minute = Math.floor(now() / MINUTE_MS);
      if (r.outcome === "processed") {
        add(minute, field.processed(r.handler));
        if (r.latencyMs !== undefined) add(minute, field.latency(r.handler, bucketOf(Math.max(0, r.latencyMs))));
      } else if (r.outcome === "retry" || r.outcome === "dead_lettered") {
        add(minute, field.failed(r.handler));
      }
    },
    flush,
    async stop() {
      clearInterval(timer);
      await flush();
    },
  };
}

function bucketOf(ms: number): number {
  const i = LATENCY_BOUNDS_MS.findIndex((bound) => ms <= bound);
  return i === -1 ? LATENCY_BOUNDS_MS.length : i;
}

export interface ActivityPoint {
  /** Start of the minute, epoch ms. */
  at: number;
  processed: number;
  failed: number;
  /** Estimated from the histogram (linear within a bucket); null in a minute with nothing processed. */
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface Activity {
  from: number;
  to: number;
  bucketMs: number;
  /** Handler -> one point per minute, oldest first, every minute present (zeros where idle). */
  handlers: Record<string, ActivityPoint[]>;
}

/** The fleet's counts for the last `minutes` minutes (the current one included), one pipelined read. */
export async function readActivity(redis: Redis, prefix: string, { minutes = 60, now = Date.now() }: { minutes?: number; now?: number } = {}): Promise<Activity> {
  const last = Math.floor(now / MINUTE_MS);
  const range = Array.from({ length: minutes }, (_, i) => last - minutes + 1 + i);
  const pipeline = redis.pipeline();
  for (const minute of range) pipeline.hgetall(consoleKeys.activityMinute(prefix, minute));
  const replies = (await pipeline.exec()) ?? [];

  const perMinute = range.map((_, i) => {
    const [err, value] = replies[i] ?? [null, {}];
    if (err) throw err;
    return parseMinute(value as Record<string, string>);
  });
  const names = [...new Set(perMinute.flatMap((m) => [...m.keys()]))].sort();
  const handlers: Record<string, ActivityPoint[]> = {};
  for (const name of names) {
    handlers[name] = range.map((minute, i) => {
      const c = perMinute[i]!.get(name);
      return {
        at: minute * MINUTE_MS, processed: c?.processed ?? 0, failed: c?.failed ?? 0,
        p50Ms: c ? quantile(c.latency, 0.5) : null, p99Ms: c ? quantile(c.latency, 0.99) : null,
      };
    });
  }
  return { from: range[0]! * MINUTE_MS, to: (last + 1) * MINUTE_MS, bucketMs: MINUTE_MS, handlers };
}

interface MinuteCounts {
  processed: number;
  failed: number;
  latency: number[];
}

function parseMinute(hash: Record<string, string>): Map<string, MinuteCounts> {
  const out = new Map<string, MinuteCounts>();
  for (const [name, value] of Object.entries(hash)) {
    const colon = name.indexOf(":");
    if (colon < 1) continue;
    const kind = name.slice(0, colon);
    const handler = name.slice(colon + 1);
    let c = out.get(handler);
    if (!c) out.set(handler, (c = { processed: 0, failed: 0, latency: new Array(LATENCY_BOUNDS_MS.length + 1).fill(0) }));
    const n = Number(value) || 0;
    if (kind === "p") c.processed += n;
    else if (kind === "f") c.failed += n;
    else if (/^l\d+$/.test(kind)) {
      const bucket = Number(kind.slice(1));
      if (bucket < c.latency.length) c.latency[bucket]! += n;
    }
  }
  return out;
}

/**
 * The q-quantile of a bucketed histogram, interpolated linearly inside its bucket (as
 * Prometheus' histogram_quantile); in the open top bucket it is the last finite bound.
 */
export function quantile(buckets: number[], q: number): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    const n = buckets[i]!;
    if (n > 0 && seen + n >= rank) {
      if (i >= LATENCY_BOUNDS_MS.length) return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1]!;
      const lower = i === 0 ? 0 : LATENCY_BOUNDS_MS[i - 1]!;
      const upper = LATENCY_BOUNDS_MS[i]!;
      return Math.round(lower + ((upper - lower) * (rank - seen)) / n);
    }
    seen += n;
  }
  return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1]!;
}
