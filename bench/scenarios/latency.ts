// Scenario 2: a steady stream of in-process commits (one event per transaction) and the time from
// each commit returning to its handler starting. Ours: commitWithEvents wakes the local relay.
// Peer: the producer can only commit; its scanner finds the rows on its next scan.
import { startOurs } from "../ours.ts";
import { createPeerQueue, startPeerWorker } from "../peer/bullmq.ts";
import { startScanner } from "../peer/scanner.ts";
import type { Plan } from "../sizes.ts";
import { Completion } from "../support/completion.ts";
import { distribution, type Distribution } from "../support/stats.ts";
import { commitEvent } from "../support/workload.ts";
import { createWorld, type World } from "../support/world.ts";
import type { Waker } from "../../src/engine/outbox/write-event.ts";

const EVENT_TYPE = "bench.latency";

export interface LatencyRun {
  side: "ours" | "peer";
  /** How the side learns of new rows. */
  trigger: string;
  events: number;
  /** Commits per second actually achieved by the producer. */
  achievedRate: number;
  /** Commit returned -> handler started, milliseconds. */
  latencyMs: Distribution;
  /**
   * The same split at the moment the event entered Redis (ours: the stream entry id's time, set by
   * XADD; peer: the job's timestamp, set by addBulk): commit -> queued shows the relay or scanner,
   * queued -> start the consumer side. Millisecond resolution.
   */
  stagesMs: { commitToQueued: Distribution; queuedToStart: Distribution };
}

export interface LatencyResult {
  rate: number;
  seconds: number;
  runs: LatencyRun[];
}

export async function runLatency(plan: Plan): Promise<LatencyResult> {
  const { slowScanMs, fairScanMs, rate, seconds } = plan.size.latency;
  return { rate, seconds, runs: [await latencyOurs(plan), await latencyPeer(plan, slowScanMs), await latencyPeer(plan, fairScanMs)] };
}

/** Timestamps by event id (performance.now(), except `queued`: epoch ms from Redis or BullMQ). */
class Timings {
  committed = new Map<string, number>();
  started = new Map<string, number>();
  queued = new Map<string, number>();
  latencies(): Distribution {
    return this.between((id) => this.committed.get(id), (id) => this.started.get(id));
  }
  stages(): LatencyRun["stagesMs"] {
    const epoch = (t: number | undefined) => (t === undefined ? undefined : performance.timeOrigin + t);
    return {
      commitToQueued: this.between((id) => epoch(this.committed.get(id)), (id) => this.queued.get(id)),
      queuedToStart: this.between((id) => this.queued.get(id), (id) => epoch(this.started.get(id))),
    };
  }
  private between(from: (id: string) => number | undefined, to: (id: string) => number | undefined): Distribution {
    const values: number[] = [];
    for (const id of this.committed.keys()) {
      const a = from(id);
      const b = to(id);
      if (a !== undefined && b !== undefined) values.push(b - a);
    }
    return distribution(values);
  }
}

/** When each event entered its stream: the time in the entry id XADD gave it. */
async function readEntryTimes(world: World, timings: Timings): Promise<void> {
  const stream = `${world.prefix}:${EVENT_TYPE}`;
  for (let from = "-"; ; ) {
    const page = await world.redis.xrange(stream, from, "+", "COUNT", 5000);
    for (const [entryId, fields] of page) {
      const i = fields.indexOf("id");
      if (i >= 0 && i % 2 === 0) timings.queued.set(fields[i + 1]!, Number(entryId.split("-")[0]));
    }
    if (page.length < 5000) return;
    from = `(${page.at(-1)![0]}`;
  }
}

async function latencyOurs(plan: Plan): Promise<LatencyRun> {
  const { size } = plan;
  const world = await createWorld("latency-ours", plan);
  const total = size.latency.rate * size.latency.seconds;
  const completion = new Completion(total, "latency ours", size.stallMs);
  const timings = new Timings();
  try {
    const ours = await startOurs(world, {
      eventType: EVENT_TYPE,
      env: plan.oursEnv,
      handle: async (event) => {
        timings.started.set(event.id, performance.now());
      },
      onProcessed: () => completion.hit(),
      onProblem: (err) => completion.fail(err),
    });
    const achievedRate = await produceSteady(world, ours.engine.relay ?? undefined, size, timings, completion);
    await completion.done;
    await ours.stop();
    await readEntryTimes(world, timings);
    return {
      side: "ours", trigger: "commitWithEvents wakes the relay (cron every 1 s as a backstop)", events: total, achievedRate,
      latencyMs: timings.latencies(), stagesMs: timings.stages(),
    };
  } finally {
    completion.dispose();
    await world.dispose();
  }
}

async function latencyPeer(plan: Plan, scanMs: number): Promise<LatencyRun> {
  const { size } = plan;
  const world = await createWorld("latency-peer", plan);
  const total = size.latency.rate * size.latency.seconds;
  const completion = new Completion(total, `latency peer ${scanMs} ms`, size.stallMs + scanMs);
  const timings = new Timings();
  try {
    const { queue, close: closeQueue } = createPeerQueue(world, "events");
    const { close: closeWorker } = await startPeerWorker(world, "events", {
      concurrency: size.latency.peerConcurrency,
      process: async (job) => {
        timings.started.set(job.data.id, performance.now());
        timings.queued.set(job.data.id, job.timestamp);
      },
      onCompleted: () => completion.hit(),
      onProblem: (err) => completion.fail(err),
    });
    const scanner = startScanner({
      sql: world.sql, queue, batchSize: size.burst.batchSize, intervalMs: scanMs,
      onError: (err) => completion.fail(new Error(`peer scanner: ${err.message}`)),
    });
    const achievedRate = await produceSteady(world, undefined, size, timings, completion);
    await completion.done;
    await scanner.stop();
    await closeWorker();
    await closeQueue();
    return {
      side: "peer", trigger: `scanner every ${scanMs >= 1000 ? `${scanMs / 1000} s` : `${scanMs} ms`}`, events: total, achievedRate,
      latencyMs: timings.latencies(), stagesMs: timings.stages(),
    };
  } finally {
    completion.dispose();
    await world.dispose();
  }
}

/**
 * Commits `rate` events per second for `seconds`, each in its own transaction, on a fixed
 * schedule (event i is due at i / rate s): a slow commit delays no other. Returns the rate achieved.
 */
async function produceSteady(world: World, waker: Waker | undefined, size: Plan["size"], timings: Timings, completion: Completion): Promise<number> {
  const { rate, seconds } = size.latency;
  const total = rate * seconds;
  const inFlight = new Set<Promise<void>>();
  const start = performance.now();
  let sent = 0;
  while (sent < total && !completion.failure) {
    const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
    for (; sent < due; sent++) {
      const row = sent + 1;
      const p: Promise<void> = commitEvent(world.db, waker, EVENT_TYPE, row)
        .then((id) => void timings.committed.set(id, performance.now()))
        .catch((err) => completion.fail(new Error(`producer: ${(err as Error).message}`)))
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await Bun.sleep(1);
  }
  await Promise.all(inFlight);
  return Math.round((total * 1000) / (performance.now() - start));
}
