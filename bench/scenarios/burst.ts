// Scenario 1: a burst of outbox rows inserted by SQL; the time from their commit until every
// handler has finished. Both sides are woken right after the commit, so poll delay does not count.
import { describeOurs, startOurs } from "../ours.ts";
import { createPeerQueue, startPeerWorker } from "../peer/bullmq.ts";
import { startScanner } from "../peer/scanner.ts";
import type { Plan } from "../sizes.ts";
import { Completion } from "../support/completion.ts";
import { measureCpu, type CpuUse } from "../support/cpu.ts";
import { perSecond, round } from "../support/stats.ts";
import { checkEffects, createBenchRows, HANDLER_KINDS, insertOutboxRows, ourEffect, peerEffect, type HandlerKind } from "../support/workload.ts";
import { createWorld, type World } from "../support/world.ts";

const EVENT_TYPE = "bench.burst";

export interface BurstRun {
  side: "ours" | "peer";
  kind: HandlerKind;
  events: number;
  seconds: number;
  perSecond: number;
  /** Ours: its throughput settings; peer: the Worker's concurrency. */
  setup: string;
  /** CPU ms per 1,000 events: the benchmark process (the side's own code: engine, or scanner + Worker), PostgreSQL, Redis. */
  cpuMsPer1k: { bench: number; postgres: number; redis: number };
  machineBusyPct: number;
}

export interface BurstResult {
  events: number;
  runs: BurstRun[];
  /** Per kind: ours, the best peer run, ours / peer. */
  summary: { kind: HandlerKind; ours: BurstRun; peer: BurstRun; ratio: number }[];
}

export async function runBurst(plan: Plan): Promise<BurstResult> {
  const runs: BurstRun[] = [];
  const summary: BurstResult["summary"] = [];
  for (const kind of HANDLER_KINDS) {
    const ours = await burstOurs(plan, kind);
    runs.push(ours);
    const peers: BurstRun[] = [];
    for (const concurrency of plan.size.burst.peerConcurrency) peers.push(await burstPeer(plan, kind, concurrency));
    runs.push(...peers);
    const peer = peers.reduce((a, b) => (b.perSecond > a.perSecond ? b : a));
    summary.push({ kind, ours, peer, ratio: round(ours.perSecond / Math.max(1, peer.perSecond), 2) });
  }
  return { events: plan.size.burst.events, runs, summary };
}

async function burstOurs(plan: Plan, kind: HandlerKind): Promise<BurstRun> {
  const n = plan.size.burst.events;
  const world = await createWorld(`burst-ours-${kind}`, plan);
  const completion = new Completion(n, `burst ours ${kind}`, plan.size.stallMs);
  try {
    await createBenchRows(world.sql, n);
    const effect = ourEffect(kind);
    const ours = await startOurs(world, {
      eventType: EVENT_TYPE,
      env: plan.oursEnv,
      handle: (event, ctx) => effect(event.payload.row, ctx),
      onProcessed: () => completion.hit(),
      onProblem: (err) => completion.fail(err),
    });
    const timed = await timeBurst(world, n, completion, () => ours.engine.relay?.wake());
    await ours.stop();
    await expectEffects(world, kind, n, "ours");
    return { side: "ours", kind, ...timed, setup: describeOurs(ours.config) };
  } finally {
    completion.dispose();
    await world.dispose();
  }
}

async function burstPeer(plan: Plan, kind: HandlerKind, concurrency: number): Promise<BurstRun> {
  const n = plan.size.burst.events;
  const world = await createWorld(`burst-peer-${kind}`, plan);
  const completion = new Completion(n, `burst peer ${kind} c${concurrency}`, plan.size.stallMs);
  try {
    await createBenchRows(world.sql, n);
    const effect = peerEffect(kind, world.sql);
    const { queue, close: closeQueue } = createPeerQueue(world, "events");
    const { close: closeWorker } = await startPeerWorker(world, "events", {
      concurrency,
      process: (job) => effect(job.data.id, job.data.payload.row),
      onCompleted: () => completion.hit(),
      onProblem: (err) => completion.fail(err),
    });
    const scanner = startScanner({
      sql: world.sql, queue, batchSize: plan.size.burst.batchSize, intervalMs: plan.size.burst.peerScanMs,
      onError: (err) => completion.fail(new Error(`peer scanner: ${err.message}`)),
    });
    const timed = await timeBurst(world, n, completion, () => scanner.wake());
    await scanner.stop();
    await closeWorker();
    await closeQueue();
    await expectEffects(world, kind, n, "peer");
    return { side: "peer", kind, ...timed, setup: `Worker concurrency ${concurrency}` };
  } finally {
    completion.dispose();
    await world.dispose();
  }
}

/** Inserts the burst, wakes the side at once, and times from the insert's commit to the last handler. */
async function timeBurst(world: World, n: number, completion: Completion, wake: () => void) {
  await insertOutboxRows(world.sql, EVENT_TYPE, n);
  const committed = performance.now();
  const cpu = measureCpu();
  wake();
  const finished = await completion.done;
  const used: CpuUse = cpu();
  const ms = finished - committed;
  const per1k = (cpuMs: number) => Math.round(cpuMs / (n / 1000));
  return {
    events: n, seconds: round(ms / 1000, 3), perSecond: perSecond(n, ms),
    cpuMsPer1k: { bench: per1k(used.processMs), postgres: per1k(used.postgresMs), redis: per1k(used.redisMs) },
    machineBusyPct: used.machineBusyPct,
  };
}

async function expectEffects(world: World, kind: HandlerKind, n: number, side: string): Promise<void> {
  const problems = await checkEffects(world.sql, kind, n);
  if (problems.length) throw new Error(`burst ${side} ${kind}: ${problems.join("; ")}`);
}
