// The chaos run shared by `bun run chaos` and test/chaos.test.ts: three service processes on a
// private PostgreSQL and Redis, the fleet workload paced over a duration plus signed webhooks and
// events made to fail on purpose, and a schedule of faults (SIGKILLs, a Redis restart that loses
// every key, a PostgreSQL restart). Then it drains and checks the fleet invariants, what was
// acknowledged against what took effect, latency during faults and recovery after each.
import { randomBytes } from "node:crypto";
import { createDatabase } from "../../src/db/client.ts";
import { migrateDatabase } from "../../src/db/migrate.ts";
import { createSubscriptions } from "../../src/handlers/index.ts";
import { createLogger } from "../../src/lib/logger.ts";
import { killProcesses } from "../support/process.ts";
import { webhookSecret } from "../support/webhooks.ts";
import { createApiClient } from "./api-client.ts";
import { auditRun, readEffectLatency, readForeignEvents, type Accepted } from "./chaos-audit.ts";
import { createProber, PROBE_TIMEOUT_MS, planFaults, restartMember, runFaults, type FaultRecord } from "./chaos-faults.ts";
import { startChaosInfra, type ChaosInfra } from "./chaos-infra.ts";
import { driveExtras, prepareExtras, WEBHOOK_PROVIDER, webhookPayments } from "./chaos-load.ts";
import { formatChaosTable } from "./chaos-report.ts";
import { startFleet, waitForDrain, type Fleet } from "./fleet.ts";
import { checkInvariants } from "./invariants.ts";
import { describeRedis, FLEET_ENV, partitionsEnv, rejoined } from "./scenario.ts";
import { asSent, createCatalog, driveWorkload, mulberry32, planWorkload, type PlannedOrder, type Workload } from "./workload.ts";

export interface ChaosOptions {
  /** How long orders, webhooks and faults keep coming; draining and checking come after. */
  durationMs: number;
  seed?: number;
  ordersPerSecond?: number;
  /** Mean time between SIGKILLs. */
  killEveryMs?: number;
  processes?: number;
  /** How long Redis and PostgreSQL stay down when restarted. */
  downMs?: number;
  drainTimeoutMs?: number;
  /** How long an order's next step waits for the status it needs before the order is given up. */
  waitTimeoutMs?: number;
  log?: (line: string) => void;
  /** STREAM_PARTITIONS of every process. Defaults to the service's (1). */
  partitions?: number;
  /** Runs on a private three-master Redis Cluster; its data loss is then one master restarted empty. */
  cluster?: boolean;
  /** Aborted when the caller is about to kill everything (Ctrl-C): from then on nothing is started or restarted. */
  signal?: AbortSignal;
}

export interface ChaosResult {
  problems: string[];
  summary: string;
  /** Effects missing: acknowledged requests without theirs, deliveries never made, deliveries dead-lettered without cause. */
  lost: number;
  /** Effects found more often than asked for. */
  appliedTwice: number;
  faults: FaultRecord[];
}

const DEFAULTS = { seed: 1, ordersPerSecond: 10, killEveryMs: 6_000, processes: 3, downMs: 1_000, drainTimeoutMs: 60_000, waitTimeoutMs: 60_000, cluster: false };

/** Runs everything on infrastructure of its own and removes it all (processes, servers, directories) before returning. */
export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const opts = { ...DEFAULTS, log: () => {}, ...options };
  const began = Date.now();
  const infra = await startChaosInfra({ cluster: opts.cluster });
  const run: { closing: boolean; close: (() => Promise<unknown>)[] } = { closing: false, close: [] };
  opts.signal?.addEventListener("abort", () => (run.closing = true));
  try {
    const world = await setUp(infra, opts, run);
    const load = await sendUnderFaults(world, opts);
    return await check(world, load, opts, began);
  } finally {
    run.closing = true; // the processes killed now are no crash
    await killProcesses();
    for (const close of run.close) await close().catch(() => {});
    await infra.stop();
  }
}

type Options = Required<Omit<ChaosOptions, "signal" | "partitions">> & Pick<ChaosOptions, "partitions">;
type World = Awaited<ReturnType<typeof setUp>>;
type Load = Awaited<ReturnType<typeof sendUnderFaults>>;

// The database, the run's own connections, the fleet, the catalog and the plan.
async function setUp(infra: ChaosInfra, opts: Options, run: { closing: boolean; close: (() => Promise<unknown>)[] }) {
  const { log } = opts;
  const databaseUrl = `${infra.postgres.url}/orderstream`;
  await migrateDatabase(databaseUrl);
  const prefix = `chaos${randomBytes(4).toString("hex")}`;
  const database = createDatabase(databaseUrl, { max: 4 });
  run.close.push(() => database.sql.end({ timeout: 1 }));
  const redis = infra.redis.client();
  run.close.push(async () => redis.disconnect());
  await redis.connect();
  log(`private PostgreSQL ${infra.postgres.url}, ${infra.redis.description}, prefix ${prefix}${opts.partitions ? `, ${opts.partitions} partitions per type` : ""}`);

  const problems: string[] = [];
  const restarts: Promise<unknown>[] = [];
  const secret = webhookSecret(WEBHOOK_PROVIDER);
  const env = (i: number) => ({ ...FLEET_ENV, ...partitionsEnv(opts.partitions), ...infra.redis.env, WEBHOOK_SECRETS: secret.env, WEBHOOK_SCOPES: `${WEBHOOK_PROVIDER}=*`, MIGRATE_ON_START: String(i === 0) });
  const fleet: Fleet = await startFleet({ prefix, databaseUrl }, opts.processes, env, {
    onUnexpectedExit(m, code, proc) {
      if (run.closing) return;
      // Why it went: its error lines, its shutdown line (a fatal reason), and stderr.
      const why = [...proc.stdout.filter((l) => /"level":"error"|"msg":"shutting down"/.test(l)).slice(-3), ...proc.stderr.filter((l) => /error|^\s+at /i.test(l)).slice(0, 12)];
      problems.push(`${m.name} (life ${m.lives}) exited on its own with code ${code}: ${why.map((l) => l.trim()).join(" | ").slice(0, 900) || "(nothing logged)"}`);
      log(`${m.name} exited on its own (code ${code}); restarting it`);
      restarts.push(restartMember(fleet, m, { log, stopped: () => run.closing }).catch((err: Error) => problems.push(err.message)));
    },
  });
  log(`${opts.processes} processes up: ${fleet.endpoints().join(" ")}`);

  const client = createApiClient({ endpoints: fleet.endpoints, concurrency: 32 });
  const catalog = await createCatalog(client, database.sql, prefix);
  const planned = planWorkload(catalog, prefix, Math.max(1, Math.round((opts.durationMs / 1000) * opts.ordersPerSecond)), opts.seed);
  const probeCatalog = await createCatalog(client, database.sql, `${prefix}-probe`, 1);
  // Probes have a client of their own, so they never queue behind the load.
  const prober = createProber(createApiClient({ endpoints: fleet.endpoints, concurrency: 4 }), database.sql, probeCatalog.products[0]!, prefix, planned.orders.length);
  const hooks = await prepareExtras(client, database.sql, prefix, opts.durationMs);
  const stopped = () => run.closing;
  return { infra, database, sql: database.sql, redis, prefix, problems, restarts, stopped, secret, fleet, client, catalog, planned, probeCatalog, prober, hooks };
}

// The workload, the webhooks and the faults at once; then waits for the faults to settle and the pipeline to drain.
async function sendUnderFaults(w: World, opts: Options) {
  const { log, ordersPerSecond } = opts;
  const { fleet, client, problems, planned } = w;
  const random = mulberry32(opts.seed * 7919 + 1);
  const faultPlan = planFaults(opts.durationMs, opts.killEveryMs, random);
  log(`${planned.orders.length} orders over ${opts.durationMs / 1000} s, ${w.hooks.extras.length} webhooks and events besides, faults: ${faultPlan.map((f) => `${f.kind}@${(f.atMs / 1000).toFixed(1)}s`).join(" ")}`);
  // Orders due in the 3 s after the Redis data loss go out all at once just before it, so the
  // loss hits entries published and not yet handled, not an idle pipeline.
  const redisLossAtMs = faultPlan.find((f) => f.kind === "redis-data-loss")?.atMs ?? -Infinity;
  const sendAtMs = (index: number) => {
    const due = (index * 1000) / ordersPerSecond;
    return due >= redisLossAtMs && due < redisLossAtMs + 3_000 ? redisLossAtMs - 150 : due;
  };
  const payments = webhookPayments(w.secret.key, w.prefix);
  const accepted: Accepted[] = [];
  const startedAt = Date.now();
  let created = 0;
  const faulting = runFaults(
    { fleet, infra: w.infra, sql: w.sql, redis: w.redis, prefix: w.prefix, prober: w.prober, random, downMs: opts.downMs, log, problems, restarts: w.restarts, stopped: w.stopped },
    faultPlan, startedAt,
  ).catch((err: Error) => (problems.push(`fault injection failed: ${err.message}`), [] as FaultRecord[]));
  const sending = driveExtras(client, w.secret.key, w.hooks.extras, startedAt);
  const progress = setInterval(() => log(`${created}/${planned.orders.length} orders created, ${client.stats().requests} requests`), 5_000);
  try {
    problems.push(...(await driveWorkload(client, w.sql, planned, {
      beforeOrder: (o) => Bun.sleep(Math.max(0, startedAt + sendAtMs(o.index) - Date.now())),
      sendPayment: payments.send,
      onAccepted: (order, step) => accepted.push({ order, step }),
      onCreated: (n) => (created = n),
      waitTimeoutMs: opts.waitTimeoutMs,
    })));
    problems.push(...(await sending));
  } finally {
    clearInterval(progress);
  }
  const faults = await faulting;
  await Promise.all(w.restarts);
  const loadMs = Date.now() - startedAt;
  log(`load sent in ${(loadMs / 1000).toFixed(1)} s; waiting for the pipeline to drain`);

  let drainMs: number | null = null;
  try {
    drainMs = await waitForDrain(w.sql, w.redis, w.prefix, opts.drainTimeoutMs, { stallMs: 10_000 });
  } catch (err) {
    problems.push((err as Error).message);
  }
  await rejoined(fleet, problems);
  await fleet.scrape();
  return { faults, accepted, paymentWebhooks: payments.sent, loadMs, drainMs };
}

// The fleet invariants on the plan as sent, the audit of what was acknowledged, latency, the table.
async function check(w: World, load: Load, opts: Options, began: number): Promise<ChaosResult> {
  const { problems, sql, prefix, planned, prober, hooks } = w;
  const stepsSent = new Map<PlannedOrder, number>();
  for (const a of load.accepted) if (a.step) stepsSent.set(a.order, (stepsSent.get(a.order) ?? 0) + 1);
  const accepted = [...load.accepted, ...prober.orders.flatMap((o) => (o.id ? [{ order: o, step: null }] : []))];
  // The plan as far as it was sent, plus what the run added: probe orders, the products the webhooks set.
  const workload: Workload = {
    runId: prefix,
    tenants: [...w.catalog.tenants, ...w.probeCatalog.tenants, hooks.tenant],
    products: [...w.catalog.products, ...w.probeCatalog.products, ...hooks.products],
    orders: [...planned.orders.map((o) => asSent(o, stepsSent.get(o) ?? 0)), ...prober.orders],
  };
  const report = await checkInvariants({ sql, redis: w.redis, prefix, client: w.client }, workload, { foreignEvents: await readForeignEvents(sql, prefix) });
  problems.push(...report.mismatches.map((m, i) => (m.surplus ? `applied twice: ${report.problems[i]}` : report.problems[i]!)));

  const handlers = new Map<string, string[]>();
  for (const s of createSubscriptions({ db: w.database.db, log: createLogger({ level: "error" }) })) handlers.set(s.eventType, [...(handlers.get(s.eventType) ?? []), s.handler]);
  const redisLossAt = load.faults.find((f) => f.kind === "redis-data-loss")?.at ?? null;
  const audit = await auditRun({ sql, runId: prefix, accepted, extras: hooks.extras, paymentWebhooks: load.paymentWebhooks, handlers, redisLossAt });
  // Every effect missing: acknowledged requests without theirs, deliveries that never happened,
  // and deliveries dead-lettered though nothing made them fail (their handler never applied them).
  const lost = audit.lost.length + audit.undelivered.total + audit.deadLetters.unexpected;
  const appliedTwice = report.mismatches.filter((m) => m.surplus).length + audit.doubled.length;
  if (audit.undelivered.total > 0) {
    problems.push(`${audit.undelivered.total} deliveries (event x handler) never happened: ${JSON.stringify(audit.undelivered.byType)}; e.g. ${audit.undelivered.sample.join("; ")}`);
  }
  problems.push(...audit.lost.map((l) => `lost: ${l}`), ...audit.doubled.map((d) => `applied twice: ${d}`));
  problems.push(...audit.deadLetters.unexpectedGroups.map((d) => `unexpected dead letters: ${d}`));
  const latency = await readEffectLatency(sql, load.faults.map((f) => [f.at, f.at + (f.recoveredMs ?? PROBE_TIMEOUT_MS)]));

  const ranked = rankProblems(problems);
  const summary = formatChaosTable({
    passed: problems.length === 0, problems: problems.length, seed: opts.seed, redis: describeRedis(w.infra.redis.env.REDIS_CLUSTER_NODES, opts.partitions), durationMs: opts.durationMs, ordersPerSecond: opts.ordersPerSecond,
    fleet: w.fleet, faults: load.faults, audit, latency, lost, appliedTwice, orders: planned.orders.length,
    events: report.events, handlerRuns: report.handlerRuns, http: w.client.stats(), counters: w.fleet.counters(),
    loadMs: load.loadMs, drainMs: load.drainMs, totalMs: Date.now() - began,
  });
  return { problems: ranked, summary, lost, appliedTwice, faults: load.faults };
}

/**
 * Losses first, then double effects, crashes, unexpected dead letters and the rest, at most
 * `perKind` lines of each kind; the driver's "still pending" give-ups (consequences, usually of
 * a loss or a slow recovery) folded into one line.
 */
function rankProblems(problems: string[], perKind = 12): string[] {
  const kinds: [string, (p: string) => boolean][] = [
    ["lost", (p) => p.startsWith("lost:") || p.includes("deliveries (event x handler) never happened") || p.startsWith("unexpected dead letters:")],
    ["applied twice", (p) => p.startsWith("applied twice:")],
    ["crashes", (p) => p.includes("exited on its own")],
    ["gave up", (p) => / still pending after \d+ ms waiting for /.test(p)],
    ["other", () => true],
  ];
  const out: string[] = [];
  const left = new Set(problems);
  for (const [kind, matches] of kinds) {
    const mine = [...left].filter(matches);
    for (const p of mine) left.delete(p);
    if (kind === "gave up") {
      if (mine.length) out.push(`the workload gave up on ${mine.length} orders still pending after waiting for a status: ${mine.slice(0, perKind).map((p) => p.split(" ")[1]).join(" ")}${mine.length > perKind ? " ..." : ""}`);
      continue;
    }
    out.push(...mine.slice(0, perKind));
    if (mine.length > perKind) out.push(`... and ${mine.length - perKind} more (${kind})`);
  }
  return out;
}
