// The fleet run shared by `bun run fleet` and test/fleet.test.ts: three service processes, a
// workload through their HTTP APIs, one SIGKILL and one SIGTERM (each followed by a restart under
// the same consumer name) midway, then drain and compare everything with the plan.
import { keys } from "../../src/engine/redis/keys.ts";
import type { TestContext } from "../support/context.ts";
import { createApiClient } from "./api-client.ts";
import { formatTable, pendingOn, PROCESSED_METRIC, startFleet, waitForDrain, waitReleased, type Fleet } from "./fleet.ts";
import { checkInvariants } from "./invariants.ts";
import { createCatalog, driveWorkload, planWorkload } from "./workload.ts";

export interface ScenarioOptions {
  orders: number;
  seed?: number;
  processes?: number;
  /** Requests in flight at once. */
  concurrency?: number;
  drainTimeoutMs?: number;
  /** STREAM_PARTITIONS of every process. Defaults to the service's (1). */
  partitions?: number;
  /** Progress lines (the CLI prints them; the test keeps quiet). */
  log?: (line: string) => void;
  /**
   * Given (a private Redis Cluster's), one master is restarted without its data between the
   * SIGKILL and the SIGTERM: the partitions on it are recovered from the outbox, the others left
   * alone. Says what it did.
   */
  loseShard?: () => Promise<string>;
}

export interface ScenarioResult {
  problems: string[];
  summary: string;
}

const SHUTDOWN_TIMEOUT_MS = 5_000;
const CLAIM_IDLE_MS = 2_000;

/** Timings that let retries converge within a short run; everything else is testEnv's. */
export const FLEET_ENV: Record<string, string> = {
  CLAIM_IDLE_MS: String(CLAIM_IDLE_MS),
  OUTBOX_INITIAL_DELAY_MS: "100",
  OUTBOX_MAX_DELAY_MS: "2000",
  SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
  // Maintenance on every machine's schedule, run by one at a time (the lock).
  MAINTENANCE_CRON: "*/2 * * * * *",
  CONSUMER_STALE_MS: "10s",
  // The service's default. The tests' 200 ms (quick stops) has every idle read loop, one per
  // handler and partition, poll Redis five times a second: with four partitions that polling
  // alone took CPU the 2-core machine's backlog needed during the faults.
  READ_BLOCK_MS: "2000",
};

/** Runs the scenario on `ctx`'s schema and prefix; the caller cleans up (killProcesses, ctx.cleanup). */
export async function runFleetScenario(ctx: TestContext, opts: ScenarioOptions): Promise<ScenarioResult> {
  const { orders, seed = 1, processes = 3, concurrency = 32, drainTimeoutMs = 120_000, partitions, loseShard, log = () => {} } = opts;
  const began = Date.now();
  const problems: string[] = [];
  const faults: string[] = [];

  const fleet = await startFleet(ctx, processes, { ...FLEET_ENV, ...partitionsEnv(partitions) });
  log(`${processes} processes up: ${fleet.endpoints().join(" ")}`);
  const client = createApiClient({ endpoints: fleet.endpoints, concurrency });
  const catalog = await createCatalog(client, ctx.sql, ctx.prefix);
  const workload = planWorkload(catalog, ctx.prefix, orders, seed);

  let created = 0;
  let driving = true;
  const reached = async (n: number) => {
    while (driving && created < n) await Bun.sleep(20);
  };
  const injectFaults = async () => {
    const [victim, stopped] = [fleet.members[0]!, fleet.members[1]!];
    await reached(Math.floor(orders / 3));
    const killedAt = created;
    log(`${killedAt} orders created: SIGKILL ${victim.name}`);
    await fleet.kill(victim);
    const killedAtMs = Date.now();
    const held = await pendingOn(ctx.redis, ctx.prefix, victim.name);
    // Its restart waits up to 10 s for its own name, so what is released before that is the others' doing.
    const released = waitReleased(ctx.redis, victim.name, held, 30_000).then((ms) => (ms === null ? null : Date.now() - killedAtMs));
    await fleet.start(victim);

    let shardLost: string | null = null;
    if (loseShard) {
      await reached(Math.floor(orders / 2));
      const lostAt = created;
      const what = await loseShard();
      log(`${lostAt} orders created: ${what}`);
      shardLost = `${what} after ${lostAt} orders`;
    }

    await reached(Math.floor((2 * orders) / 3));
    const stoppedAt = created;
    log(`${stoppedAt} orders created: SIGTERM ${stopped.name}`);
    const term = await fleet.terminate(stopped, SHUTDOWN_TIMEOUT_MS + 10_000);
    const left = await pendingOn(ctx.redis, ctx.prefix, stopped.name);
    const leftReleased = waitReleased(ctx.redis, stopped.name, left, 30_000);
    await fleet.start(stopped);

    const releasedMs = await released;
    faults.push(`${victim.name} SIGKILLed after ${killedAt} orders with ${held.length} entries pending; ${releasedMs === null ? "NOT released" : `released ${seconds(releasedMs)} later`}; restarted`);
    if (shardLost) faults.push(shardLost);
    if (releasedMs === null) problems.push(`SIGKILL: ${held.length} entries of ${victim.name} still pending on it 30 s later`);
    else if (releasedMs > CLAIM_IDLE_MS + 5_000) problems.push(`SIGKILL: ${victim.name}'s entries were reclaimed ${releasedMs} ms later (CLAIM_IDLE_MS ${CLAIM_IDLE_MS})`);
    const leftMs = await leftReleased;
    faults.push(`${stopped.name} SIGTERMed after ${stoppedAt} orders: exit ${term.code} in ${term.ms} ms, ${left.length} entries left pending${left.length && leftMs !== null ? ` (released ${seconds(leftMs)} later)` : ""}; restarted`);
    if (leftMs === null) problems.push(`SIGTERM: ${left.length} entries left by ${stopped.name} still pending on it 30 s later`);
    if (term.code !== 0) problems.push(`SIGTERM: ${stopped.name} exited ${term.code}, expected 0`);
    if (term.ms > SHUTDOWN_TIMEOUT_MS + 3_000) problems.push(`SIGTERM: ${stopped.name} took ${term.ms} ms, SHUTDOWN_TIMEOUT_MS is ${SHUTDOWN_TIMEOUT_MS}`);
    for (const line of term.errors) problems.push(`SIGTERM: ${stopped.name} logged an error: ${line.slice(0, 300)}`);
  };

  const driveStarted = Date.now();
  const faulting = injectFaults().catch((err: Error) => void problems.push(`fault injection failed: ${err.message}`));
  const progress = setInterval(() => log(`${created}/${orders} orders created, ${client.stats().requests} requests`), 5_000);
  try {
    problems.push(...(await driveWorkload(client, ctx.sql, workload, { onCreated: (n) => (created = n) })));
  } finally {
    driving = false;
    clearInterval(progress);
  }
  await faulting;
  const driveMs = Date.now() - driveStarted;
  log(`workload sent in ${seconds(driveMs)}; waiting for the pipeline to drain`);

  let drainMs: number | null = null;
  try {
    drainMs = await waitForDrain(ctx.sql, ctx.redis, ctx.prefix, drainTimeoutMs);
  } catch (err) {
    problems.push((err as Error).message);
  }
  await rejoined(fleet, problems);
  await fleet.scrape();
  const report = await checkInvariants({ sql: ctx.sql, redis: ctx.redis, prefix: ctx.prefix, client }, workload);
  problems.push(...report.problems);

  const http = client.stats();
  const counters = fleet.counters();
  const summary = formatTable(`fleet run: ${problems.length === 0 ? "PASS" : `FAIL (${problems.length} problems)`}`, [
    ["orders", `${orders} (seed ${seed}; ${workload.tenants.length} tenants, ${workload.products.length} products)`],
    ["processes", `${processes}, ${fleet.members.reduce((n, m) => n + m.lives, 0)} lives`],
    ["Redis", describeRedis(ctx.clusterNodes, partitions)],
    ["faults", `1 SIGKILL + 1 SIGTERM, each restarted under its name${loseShard ? ", 1 master restarted without its data" : ""}`],
    ...faults.map((f, i): [string, string] => [`  fault ${i + 1}`, f]),
    ["HTTP requests", `${http.requests} (${http.retries} sent again after a process went away); p50 ${http.p50Ms} ms, p99 ${http.p99Ms} ms`],
    ["events (outbox rows)", String(report.events)],
    ["handler runs", String(report.handlerRuns)],
    ...metricsRows(counters, report.events),
    ["problems", String(problems.length)],
    ["dead letters", String(await ctx.redis.xlen(keys.deadLetters(ctx.prefix)))],
    ["time to send", seconds(driveMs)],
    ["time to drain", drainMs === null ? "did not drain" : seconds(drainMs)],
    ["total", seconds(Date.now() - began)],
  ]);
  return { problems, summary };
}

/** The environment that gives every process `partitions` per event type; empty for the default. */
export function partitionsEnv(partitions: number | undefined): Record<string, string> {
  return partitions === undefined ? {} : { STREAM_PARTITIONS: String(partitions) };
}

/** What a run's processes ran on, for its table. */
export function describeRedis(clusterNodes: string | undefined, partitions = 1): string {
  const where = clusterNodes ? `Redis Cluster of ${clusterNodes.split(",").length} masters (${clusterNodes})` : "a single Redis";
  return `${where}, ${partitions} partition${partitions === 1 ? "" : "s"} per event type`;
}

/** Every member's current life must have its consumers running again (the name taken back). */
export async function rejoined(fleet: Fleet, problems: string[]): Promise<void> {
  for (const m of fleet.members) {
    await m.proc?.waitForLine(/"msg":"consumers started"/, 20_000).catch((err: Error) => problems.push(`${m.name} did not rejoin: ${err.message.split("\n")[0]}`));
  }
}

/** What /metrics adds; lower bounds, since a SIGKILLed life's counts after its last scrape are lost. */
export function metricsRows(counters: Record<string, number> | null, events: number): [string, string][] {
  if (counters === null) return [["duplicates absorbed", `n/a (${PROCESSED_METRIC} not on /metrics)`]];
  const published = counters.published ?? 0;
  return [
    ["duplicates absorbed", `${counters.duplicate} (outcome="duplicate" on /metrics, scraped before each stop)`],
    ["deliveries retried", `${counters.retry ?? 0} (e.g. a run cut short by a fault)`],
    ["relay publications", `${published} for ${events} rows${published > events ? ` (${published - events} rows published again)` : ""}`],
  ];
}

export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
