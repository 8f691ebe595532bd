// The faults of a chaos run: a seeded schedule (SIGKILL of a random process every few seconds,
// one Redis restart that loses every key, one PostgreSQL restart), their injection, restarts of
// the processes, and recovery probes: an order placed right after a fault, timed until confirmed.
import type Redis from "ioredis";
import type { Sql } from "../../src/db/client.ts";
import type { ApiClient } from "./api-client.ts";
import type { ChaosInfra } from "./chaos-infra.ts";
import { streamOf } from "../../src/engine/redis/keys.ts";
import { pendingOn, readDrainState, waitReleased, type Fleet, type FleetMember, type HeldEntry } from "./fleet.ts";
import { seconds } from "./scenario.ts";
import { placeOrder, type PlannedOrder, type Product } from "./workload.ts";

export type FaultKind = "sigkill" | "redis-data-loss" | "postgres-restart";

export const FAULT_NAMES: Record<FaultKind, string> = {
  sigkill: "SIGKILL + restart",
  "redis-data-loss": "Redis restart losing all data",
  "postgres-restart": "PostgreSQL restart",
};

export interface PlannedFault {
  /** From the start of the load. */
  atMs: number;
  kind: FaultKind;
}

export interface FaultRecord extends PlannedFault {
  /** Epoch ms when it hit. */
  at: number;
  detail: string;
  /** From the fault until a probe order placed right after it was confirmed; null if it never was. */
  recoveredMs: number | null;
}

/**
 * One Redis data loss at 35 % of the load and one PostgreSQL restart at 65 %; SIGKILLs every
 * `killEveryMs` (±30 %) from 2 s on, kept 2 s away from those two so each recovery is measured
 * on its own. Always at least one SIGKILL. The same plan for the same seed.
 */
export function planFaults(durationMs: number, killEveryMs: number, random: () => number): PlannedFault[] {
  const infra: PlannedFault[] = [
    { atMs: Math.round(durationMs * 0.35), kind: "redis-data-loss" },
    { atMs: Math.round(durationMs * 0.65), kind: "postgres-restart" },
  ];
  const kills: PlannedFault[] = [];
  for (let at = 2_000; at < durationMs - 1_000; at += Math.round(killEveryMs * (0.7 + 0.6 * random()))) {
    if (infra.every((f) => Math.abs(f.atMs - at) >= 2_000)) kills.push({ atMs: at, kind: "sigkill" });
  }
  if (kills.length === 0) kills.push({ atMs: Math.min(2_000, Math.round(durationMs * 0.15)), kind: "sigkill" });
  return [...infra, ...kills].sort((a, b) => a.atMs - b.atMs);
}

export interface FaultDeps {
  fleet: Fleet;
  infra: ChaosInfra;
  /** The run's own connections, for looking at what is pending. */
  sql: Sql;
  redis: Redis;
  prefix: string;
  prober: Prober;
  random: () => number;
  /** How long Redis and PostgreSQL stay down in their restarts. */
  downMs: number;
  log: (line: string) => void;
  problems: string[];
  /** Member restarts started by faults, awaited before the run checks anything. */
  restarts: Promise<unknown>[];
  /** True once the run is being torn down: no fault, no restart from then on. */
  stopped: () => boolean;
}

/** Injects the planned faults at their times from `startedAt`; resolves with their records once every probe settled. */
export async function runFaults(deps: FaultDeps, plan: PlannedFault[], startedAt: number): Promise<FaultRecord[]> {
  const records: FaultRecord[] = [];
  const settling: Promise<unknown>[] = [];
  for (const fault of plan) {
    await Bun.sleep(Math.max(0, startedAt + fault.atMs - Date.now()));
    if (deps.stopped()) break;
    const record: FaultRecord = { ...fault, at: Date.now(), detail: "", recoveredMs: null };
    records.push(record);
    try {
      settling.push((await inject(deps, record)).settled);
    } catch (err) {
      record.detail = `injection failed: ${(err as Error).message}`;
      deps.problems.push(`fault ${FAULT_NAMES[fault.kind]} at ${fault.atMs} ms: ${record.detail}`);
    }
  }
  await Promise.all(settling);
  return records;
}

// Injects one fault and returns what settles it, which fills in the record's recovery and detail.
async function inject(deps: FaultDeps, record: FaultRecord): Promise<{ settled: Promise<unknown> }> {
  const probe = () =>
    deps.prober.probe(record.at).then((ms) => {
      record.recoveredMs = ms;
      if (ms === null) deps.problems.push(`${FAULT_NAMES[record.kind]} at ${record.atMs} ms: no probe order was confirmed within ${PROBE_TIMEOUT_MS} ms`);
    });
  if (record.kind === "sigkill") return killOne(deps, record, probe);
  if (record.kind === "redis-data-loss") await loseRedisData(deps, record);
  else await restartPostgres(deps, record);
  return { settled: probe() };
}

// SIGKILL of a random consuming process, restarted at once under its name; settles once the probe
// confirmed, the entries it held were released and it serves again.
async function killOne(deps: FaultDeps, record: FaultRecord, probe: () => Promise<void>): Promise<{ settled: Promise<unknown> }> {
  const { fleet } = deps;
  // A process that consumes holds entries; one still waiting for its consumer name holds none.
  const up = fleet.members.filter((m) => m.url !== null);
  const consuming = up.filter((m) => m.proc?.stdout.some((l) => l.includes('"msg":"consumers started"')));
  const pool = consuming.length > 0 ? consuming : up;
  const victim = pool[Math.floor(deps.random() * pool.length)];
  if (!victim) throw new Error("no process is up to kill");
  const life = victim.lives;
  record.at = Date.now();
  await fleet.kill(victim);
  const held = await pendingOn(deps.redis, deps.prefix, victim.name).catch(() => []);
  deps.log(`SIGKILL ${victim.name} (life ${life}, ${held.length} entries pending on it)`);
  // The slowest release per group and partition: which loops were late to reclaim.
  const slowest = new Map<string, number>();
  const partOf = (e: HeldEntry) => {
    const s = streamOf(deps.prefix, e.stream);
    return `${e.group}@${s ? `${s.eventType}#${s.partition}` : e.stream}`;
  };
  const unreleased = new Set(held);
  const waitFrom = Date.now() - record.at;
  const released = waitReleased(deps.redis, victim.name, held, 60_000, (e, ms) => {
    unreleased.delete(e);
    slowest.set(partOf(e), Math.max(slowest.get(partOf(e)) ?? 0, ms + waitFrom));
  }).then((ms) => (ms === null ? null : Date.now() - record.at));
  const restarted = restartMember(fleet, victim, deps);
  deps.restarts.push(restarted.catch(() => {}));
  const settled = Promise.all([probe(), released, restarted.catch((err: Error) => err)]).then(([, releasedMs, restart]) => {
    // Slow release is a measurement (busy consumers reclaim only into free slots); an entry
    // never released shows as a pipeline that does not drain.
    const freed = held.length === 0 ? "" : releasedMs === null ? "; they were NOT released within 60 s" : `, released after ${seconds(releasedMs)}`;
    const again = restart instanceof Error ? `NOT restarted: ${restart.message}` : `restarted in ${seconds(restart.ms)}${restart.failedStarts ? ` after ${restart.failedStarts} failed starts` : ""}`;
    record.detail = `${victim.name} (life ${life}) with ${held.length} entries pending${freed}; ${again}`;
    // Which handler and partition was late: a slow reclaim shows here before it shows as a give-up.
    const late = [...slowest].filter(([, ms]) => ms > 5_000).sort((a, b) => b[1] - a[1]).slice(0, 6);
    const never = [...new Set([...unreleased].map(partOf))];
    if (late.length > 0 || never.length > 0) {
      deps.log(`SIGKILL ${victim.name} (life ${life}): slowest releases ${late.map(([k, ms]) => `${k} ${seconds(ms)}`).join(", ") || "none over 5 s"}${never.length ? `; never released: ${never.join(", ")}` : ""}`);
    }
    if (restart instanceof Error) deps.problems.push(`SIGKILL of ${victim.name}: ${restart.message}`);
  });
  return { settled };
}

// SHUTDOWN NOSAVE and a fresh start on the same port: every stream, group, pending entry and key
// gone. On a cluster, one master restarted empty: the keys of its slots gone, the others' kept.
async function loseRedisData(deps: FaultDeps, record: FaultRecord): Promise<void> {
  const { redis } = deps.infra;
  const [keys, inFlight] = await Promise.all([redis.countKeys(), readDrainState(deps.sql, deps.redis, deps.prefix).catch(() => null)]);
  record.at = Date.now();
  const what = await redis.loseData(deps.downMs, deps.random);
  const left = await redis.countKeys().catch(() => -1);
  const exposure = inFlight ? `${inFlight.lag} entries undelivered, ${inFlight.pendingEntries} pending` : "in-flight entries unknown";
  deps.log(`Redis lost data (${what}): ${keys} keys before (${exposure}), ${left} right after`);
  record.detail = `${what}; ${keys} keys before (${exposure})`;
}

// pg_ctl stop -m fast (every session ended), then start again after downMs.
async function restartPostgres(deps: FaultDeps, record: FaultRecord): Promise<void> {
  record.at = Date.now();
  await deps.infra.postgres.restart(deps.downMs);
  const took = Date.now() - record.at;
  deps.log(`PostgreSQL restarted (fast shutdown, back after ${took} ms)`);
  record.detail = `fast shutdown, down ${seconds(deps.downMs)}, accepting again after ${seconds(took)}`;
}

/** Starts the member again, retrying while it cannot start (PostgreSQL or Redis down: it exits at start-up). */
export async function restartMember(fleet: Fleet, m: FleetMember, deps: Pick<FaultDeps, "log" | "stopped">, timeoutMs = 60_000): Promise<{ ms: number; failedStarts: number }> {
  const started = Date.now();
  let failedStarts = 0;
  for (;;) {
    if (deps.stopped()) throw new Error(`${m.name} not restarted: the run is stopping`);
    try {
      await fleet.start(m);
      return { ms: Date.now() - started, failedStarts };
    } catch (err) {
      failedStarts++;
      if (failedStarts === 1) deps.log(`${m.name} could not start (${(err as Error).message.split("\n")[0]}); retrying`);
      if (Date.now() - started > timeoutMs) throw new Error(`${m.name} did not start within ${timeoutMs} ms: ${(err as Error).message.split("\n")[0]}`);
      await Bun.sleep(500);
    }
  }
}

export const PROBE_TIMEOUT_MS = 60_000;

export interface Prober {
  /** Probe orders placed so far: each an `unpaid` order, so the invariants expect it confirmed. */
  readonly orders: PlannedOrder[];
  /** Places a probe order and waits until it is confirmed; ms from `since`, or null after PROBE_TIMEOUT_MS. */
  probe(since: number): Promise<number | null>;
}

/** Probes place one unit of `product` each, through their own client so they never queue behind the load. */
export function createProber(client: ApiClient, sql: Sql, product: Product, runId: string, firstIndex: number): Prober {
  const orders: PlannedOrder[] = [];
  return {
    orders,
    async probe(since) {
      const o: PlannedOrder = {
        index: firstIndex + orders.length, kind: "unpaid", tenantId: product.tenantId, idempotencyKey: `${runId}-probe-${orders.length}`,
        items: [{ productId: product.id, quantity: 1, unitPrice: product.priceCents / 100 }], totalCents: product.priceCents, steps: [],
      };
      orders.push(o);
      const id = await placeOrder(client, o).catch(() => null);
      while (id && Date.now() - since < PROBE_TIMEOUT_MS) {
        const [row] = await sql<{ status: string }[]>`select status from orders where id = ${id}`.catch(() => []);
        if (row?.status === "confirmed") return Date.now() - since;
        await Bun.sleep(50);
      }
      return null;
    },
  };
}

