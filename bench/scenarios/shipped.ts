// Scenario 0: the work users run, on the handlers we ship. A flash sale in one shop: user.created
// rows for one tenant, inserted by one SQL statement, until both shipped handlers (notifications
// and analytics) are done with every event. The peer does the same two effects in one BullMQ job.
import type { OutcomeReport } from "../../src/engine/index.ts";
import { createPeerQueue, startPeerWorker, type PeerJob } from "../peer/bullmq.ts";
import { startScanner } from "../peer/scanner.ts";
import { describeOurs } from "../ours.ts";
import { PEER_HANDLER, welcomeUser, type UserCreated } from "../shipped/peer-effects.ts";
import { startShipped } from "../shipped/ours.ts";
import type { Plan } from "../sizes.ts";
import { Completion } from "../support/completion.ts";
import { measureCpu } from "../support/cpu.ts";
import { perSecond, round } from "../support/stats.ts";
import { createWorld, type World, type WorldOptions } from "../support/world.ts";

export const SHIPPED_TENANT = "flash-sale-shop";
const HANDLERS = ["notifications", "analytics"] as const;

export interface ShippedRun {
  side: "ours" | "peer";
  events: number;
  seconds: number;
  /** Events per second, each handled by both handlers (ours) or by one job doing both effects (peer). */
  perSecond: number;
  setup: string;
  cpuMsPer1k: { bench: number; postgres: number; redis: number };
  machineBusyPct: number;
}

export interface ShippedResult {
  events: number;
  runs: ShippedRun[];
  ours: ShippedRun;
  peer: ShippedRun;
  ratio: number;
}

export async function runShipped(plan: Plan): Promise<ShippedResult> {
  const ours = await burstOurs(plan);
  const peers: ShippedRun[] = [];
  for (const concurrency of plan.size.shipped.peerConcurrency) peers.push(await burstPeer(plan, concurrency));
  const peer = peers.reduce((a, b) => (b.perSecond > a.perSecond ? b : a));
  return { events: plan.size.shipped.events, runs: [ours, ...peers], ours, peer, ratio: round(ours.perSecond / Math.max(1, peer.perSecond), 2) };
}

/** Our side alone (for profiling). */
export const runShippedOurs = (plan: Plan) => burstOurs(plan);

export interface ShippedOursOptions {
  /** Names the world (database and key prefix). */
  label?: string;
  /** Configuration on top of the plan's (`--set`) overrides, e.g. STREAM_PARTITIONS. */
  env?: Record<string, string>;
  /** The Redis to run on; defaults to REDIS_URL. */
  redis?: WorldOptions["redis"];
  /** Looks at the world after the run's effects were checked, before it is removed. */
  inspect?: (world: World) => Promise<void>;
}

/** Our side of the burst: the service's subscriptions on a world of its own, timed from the insert's commit. */
export async function burstOurs(plan: Plan, opts: ShippedOursOptions = {}): Promise<ShippedRun> {
  const n = plan.size.shipped.events;
  const world = await createWorld(opts.label ?? "shipped-ours", { poolSize: plan.poolSize, redis: opts.redis });
  // Done when both handlers processed the event; each event counts once, when its second handler finishes.
  const completion = new Completion(n * HANDLERS.length, `shipped burst ${opts.label ?? "ours"}`, plan.size.stallMs);
  try {
    const onOutcome = (r: OutcomeReport) => {
      if (r.eventType !== "user.created") return;
      if (r.outcome === "processed") completion.hit();
      else if (r.outcome !== "duplicate") completion.fail(new Error(`ours: ${r.handler} ended an event as ${r.outcome}${r.reason ? ` (${r.reason})` : ""}`));
    };
    const ours = await startShipped(world, { ...plan.oursEnv, ...opts.env }, onOutcome);
    const timed = await timeBurst(world, n, completion, () => ours.engine.relay?.wake());
    await ours.stop();
    await expectEffects(world, n, "ours");
    await opts.inspect?.(world);
    return { side: "ours", ...timed, perSecond: perSecond(n, timed.seconds * 1000), setup: describeOurs(ours.config) };
  } finally {
    completion.dispose();
    await world.dispose();
  }
}

async function burstPeer(plan: Plan, concurrency: number): Promise<ShippedRun> {
  const n = plan.size.shipped.events;
  const world = await createWorld("shipped-peer", plan);
  const completion = new Completion(n, `shipped burst peer c${concurrency}`, plan.size.stallMs);
  try {
    const { queue, close: closeQueue } = createPeerQueue(world, "events");
    const { close: closeWorker } = await startPeerWorker(world, "events", {
      concurrency,
      process: async (job) => {
        const data = job.data as unknown as PeerJob<UserCreated>;
        await welcomeUser(world.db, { id: data.id, tenantId: data.tenantId ?? "", payload: data.payload });
      },
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
    await expectEffects(world, n, "peer");
    return { side: "peer", ...timed, perSecond: perSecond(n, timed.seconds * 1000), setup: `Worker concurrency ${concurrency}` };
  } finally {
    completion.dispose();
    await world.dispose();
  }
}

/** Inserts the sale's sign-ups in one statement, wakes the side, and times from that commit to the last effect. */
async function timeBurst(world: World, n: number, completion: Completion, wake: () => void) {
  await world.sql`
    insert into outbox (event_type, aggregate_id, tenant_id, payload)
    select 'user.created', 'user-' || g, ${SHIPPED_TENANT},
      jsonb_build_object('userId', 'user-' || g, 'email', 'buyer' || g || '@example.com', 'role', 'buyer')
    from generate_series(1, ${n}::int) g`;
  const committed = performance.now();
  const cpu = measureCpu();
  wake();
  const finished = await completion.done;
  const used = cpu();
  const ms = finished - committed;
  const per1k = (cpuMs: number) => Math.round(cpuMs / (n / 1000));
  return {
    events: n, seconds: round(ms / 1000, 3),
    cpuMsPer1k: { bench: per1k(used.processMs), postgres: per1k(used.postgresMs), redis: per1k(used.redisMs) },
    machineBusyPct: used.machineBusyPct,
  };
}

/** Every event has exactly one notification row and counts once in the tenant's usersCreated. */
async function expectEffects(world: World, n: number, side: string): Promise<void> {
  const [mail] = await world.sql<{ rows: number; events: number }[]>`select count(*)::int as rows, count(distinct event_id)::int as events from notifications`;
  const [stats] = await world.sql<{ users: number }[]>`select users_created as users from tenant_stats where tenant_id = ${SHIPPED_TENANT}`;
  const [unpublished] = await world.sql<{ n: number }[]>`select count(*)::int as n from outbox where published_at is null`;
  const handlers = side === "ours" ? HANDLERS : [PEER_HANDLER];
  const [records] = await world.sql<{ n: number }[]>`select count(*)::int as n from processed_events where handler = any(${[...handlers]})`;
  const problems = [
    mail!.rows !== n || mail!.events !== n ? `notifications: ${mail!.rows} rows for ${mail!.events} events, expected ${n}` : "",
    stats?.users !== n ? `tenant_stats.users_created: ${stats?.users ?? "no row"}, expected ${n}` : "",
    unpublished!.n > 0 ? `${unpublished!.n} outbox rows unpublished` : "",
    records!.n !== n * handlers.length ? `processed_events: ${records!.n}, expected ${n * handlers.length}` : "",
  ].filter(Boolean);
  if (problems.length) throw new Error(`shipped burst ${side}: ${problems.join("; ")}`);
}
