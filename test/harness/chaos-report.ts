// The table at the end of a chaos run.
import type { ApiClientStats } from "./api-client.ts";
import type { Audit, LatencySummary } from "./chaos-audit.ts";
import { FAULT_NAMES, type FaultKind, type FaultRecord } from "./chaos-faults.ts";
import { formatTable, type Fleet } from "./fleet.ts";
import { metricsRows, seconds } from "./scenario.ts";

export interface ChaosFacts {
  passed: boolean;
  problems: number;
  seed: number;
  /** What the processes ran on: the Redis and the partitions per type. */
  redis: string;
  durationMs: number;
  ordersPerSecond: number;
  orders: number;
  fleet: Fleet;
  faults: FaultRecord[];
  audit: Audit;
  latency: { during: LatencySummary; outside: LatencySummary };
  /** Effects missing: acknowledged requests without theirs, deliveries never made, deliveries dead-lettered without cause. */
  lost: number;
  appliedTwice: number;
  events: number;
  handlerRuns: number;
  http: ApiClientStats;
  counters: Record<string, number> | null;
  loadMs: number;
  drainMs: number | null;
  totalMs: number;
}

export function formatChaosTable(f: ChaosFacts): string {
  const a = f.audit.acknowledged;
  const byKind = (Object.keys(FAULT_NAMES) as FaultKind[]).map((k) => `${FAULT_NAMES[k]} ${f.faults.filter((x) => x.kind === k).length}`).join(", ");
  const recovered = f.faults.flatMap((x) => (x.recoveredMs === null ? [] : [x.recoveredMs]));
  const u = f.audit.undelivered;
  const lostBy = f.audit.lost.length ? ` (${Object.entries(f.audit.lostBy).map(([k, n]) => `${n} ${k}`).join(", ")})` : "";
  const errors = f.fleet.history().flatMap((p) => p.stdout.filter((l) => l.includes('"level":"error"')));
  const firstError = errors[0] ? ` (first: ${JSON.parse(errors[0]).msg})` : "";
  const { outcomes } = f.http;
  const failedAnswers = Object.entries(outcomes).filter(([k]) => k === "network" || Number(k) >= 500).map(([k, n]) => `${k}: ${n}`).join(", ");
  return formatTable(`chaos run: ${f.passed ? "PASS" : `FAIL (${f.problems} problems)`}`, [
    ["load", `${seconds(f.durationMs)}, seed ${f.seed}: ${f.orders} orders at ${f.ordersPerSecond}/s, webhooks, events made to fail`],
    ["processes", `${f.fleet.members.length}, ${f.fleet.members.reduce((n, m) => n + m.lives, 0)} lives`],
    ["Redis", f.redis],
    ["events (outbox rows)", `${f.events} of the plan, ${f.handlerRuns} handler runs`],
    ["acknowledged", `${a.orders} orders, ${a.payments} payments, ${a.cancellations} cancellations, ${a.webhooks} webhooks (+${a.replays} replays answered as duplicates), ${a.doomed} made to fail`],
    ["faults", byKind],
    ...f.faults.map((x): [string, string] => [
      `  ${seconds(x.atMs)} ${x.kind}`,
      `${x.recoveredMs === null ? "NOT recovered" : `recovered in ${seconds(x.recoveredMs)}`}; ${x.detail}`,
    ]),
    ["LOST (must be 0)", `${f.lost}: ${f.audit.lost.length} acknowledged requests without their effect${lostBy}; ${u.total} deliveries never made${u.total ? ` (${u.publishedBeforeRedisLoss} published before the Redis data loss)` : ""}; ${f.audit.deadLetters.unexpected} dead-lettered though not made to fail`],
    ["APPLIED TWICE (must be 0)", String(f.appliedTwice)],
    ["dead letters", `${f.audit.deadLetters.expected} made to fail on purpose, ${f.audit.deadLetters.recorded} recorded (${f.audit.deadLetters.unexpected} unexpected)`],
    ["latency during faults", latencyText(f.latency.during, "events in flight during a fault")],
    ["latency otherwise", latencyText(f.latency.outside, "events")],
    ["time to recover", recovered.length ? `max ${seconds(Math.max(...recovered))}, mean ${seconds(recovered.reduce((s, n) => s + n, 0) / recovered.length)} (probe order confirmed)` : "n/a"],
    ["HTTP requests", `${f.http.requests} (${f.http.retries} sent again${failedAnswers ? `; ${failedAnswers}` : ""}); p50 ${f.http.p50Ms} ms, p99 ${f.http.p99Ms} ms`],
    ...metricsRows(f.counters, f.events),
    ["error log lines", `${errors.length}${firstError}`],
    ["time", `load ${seconds(f.loadMs)}, drain ${f.drainMs === null ? "did not finish" : seconds(f.drainMs)}, total ${seconds(f.totalMs)}`],
  ]);
}

function latencyText(l: LatencySummary, what: string): string {
  return l.samples === 0 ? "n/a" : `p99 ${l.p99Ms} ms, p50 ${l.p50Ms} ms, max ${l.maxMs} ms (commit to effect, ${l.samples} handler runs of ${what})`;
}
