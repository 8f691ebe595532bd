// BENCHMARKS.md from a run's results: tables first, then how each number was measured.
import type { RunResults } from "./run.ts";
import { REDIS_LABEL } from "./scenarios/partitions.ts";
import { KIND_LABEL } from "./support/workload.ts";

const n = (v: number) => v.toLocaleString("en-US");
const met = (v: boolean | null) => (v === null ? "n/a" : v ? "yes" : "**no**");
const table = (head: string[], rows: (string | number)[][]) =>
  [`| ${head.join(" | ")} |`, `| ${head.map(() => "---").join(" | ")} |`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");

export function renderReport(r: RunResults): string {
  const m = r.machine;
  const out: string[] = [
    "# Benchmarks",
    "",
    r.mode === "quick"
      ? "> **Quick mode** (`--quick`): every scenario scaled down to check the harness. These numbers say nothing about performance.\n"
      : "",
    `Orderstream (transactional outbox -> relay -> Redis Streams consumer groups) against the architecture it replaces`,
    "(seed 000: an outbox scanner pushing jobs into BullMQ, processed by a BullMQ Worker). Both sides run on the same",
    `machine, one after the other, in one run, with the same handler work and the same PostgreSQL pool (${r.ours.poolSize} connections).`,
    "",
    `Run ${r.date} with \`${r.command}\` in ${r.durationSeconds} s. Ours ran with ${r.ours.settings}` +
      (Object.keys(r.ours.overrides).length ? ` (**overridden**: ${Object.entries(r.ours.overrides).map(([k, v]) => `${k}=${v}`).join(", ")}).` : " (shipped defaults)."),
    "",
    table(["machine", ""], [
      ["CPU", `${m.cpu}, ${m.cores} cores`],
      ["RAM", `${m.ramGb} GB`],
      ["kernel", m.kernel],
      ["Bun", m.bun],
      ["PostgreSQL", m.postgres],
      ["Redis", m.redis],
      ...Object.entries(m.settings).map(([k, v]) => [k, v]),
      ["load average at start (1 min)", String(m.loadAverage)],
    ]),
    "",
  ];
  const failures = Object.entries(r.errors);
  if (failures.length) out.push("## Failed scenarios", "", ...failures.map(([k, v]) => `- **${k}**: ${v.split("\n")[0]}`), "");

  out.push("## Targets", "", table(["target", "measured", "met?"], r.targets.map((t) => [t.target, t.measured, met(t.met)])), "");

  const shipped = r.scenarios.shipped;
  if (shipped) {
    out.push(`## 0. The shipped handlers: ${n(shipped.events)} user.created sign-ups of one tenant inserted by SQL, until notifications and analytics are both done`, "");
    out.push(table(["side", "setup", "seconds", "events/s", "CPU ms / 1k events: bench process / PostgreSQL / Redis", "machine CPU busy"], shipped.runs.map((b) => [
      b.side === "ours" ? "**ours**" : "BullMQ peer", b.side === "ours" ? "as above" : b.setup, b.seconds, n(b.perSecond),
      `${b.cpuMsPer1k.bench} / ${b.cpuMsPer1k.postgres} / ${b.cpuMsPer1k.redis}`, `${b.machineBusyPct} %`,
    ])));
    out.push("", `Ours / best BullMQ: **${shipped.ratio}x** (${n(shipped.ours.perSecond)} vs ${n(shipped.peer.perSecond)} events/s, ${shipped.peer.setup}).`, "");
  }
  const parts = r.scenarios.partitions;
  if (parts) {
    out.push(`## 0c. Partitions: the shipped-handler burst (${n(parts.events)} sign-ups) with 1 to ${Math.max(...parts.configs.map((c) => c.partitions))} partitions per type, on a single Redis and a Redis Cluster`, "");
    const mean = (values: number[]) => Math.round(values.reduce((a, b) => a + b, 0) / Math.max(1, values.length));
    out.push(table(["Redis", "partitions", `events/s (median of ${parts.rounds})`, "each round", "cost vs 1 partition, single Redis", "rows per partition (fewest / most)", "CPU ms / 1k events: bench / PostgreSQL / Redis (mean)"], parts.configs.map((c) => {
      const runs = parts.runs.filter((x) => x.redis === c.redis && x.partitions === c.partitions);
      const last = runs.at(-1)!;
      return [
        REDIS_LABEL[c.redis], c.partitions, `**${n(c.perSecond)}**`, c.rounds.map(n).join(" / "),
        c.redis === "single" && c.partitions === 1 ? "baseline" : `${c.costPct > 0 ? "+" : ""}${c.costPct} %`,
        `${n(last.spread.min)} / ${n(last.spread.max)}`,
        `${mean(runs.map((x) => x.cpuMsPer1k.bench))} / ${mean(runs.map((x) => x.cpuMsPer1k.postgres))} / ${mean(runs.map((x) => x.cpuMsPer1k.redis))}`,
      ];
    })));
    out.push("", `Partition key: ${parts.key}. Cost is how much slower than 1 partition on the single Redis, in % of it (negative: faster); the target is at most 10 %.`);
    if (parts.clusterSkipped) out.push("", `Redis Cluster: not run (${parts.clusterSkipped}).`);
    out.push("");
  }
  const orders = r.scenarios.orders;
  if (orders) {
    out.push(`## 0b. Orders through the HTTP API: ${n(orders.orders)} POST /orders, ${orders.connections} in flight, until inventory, notifications and analytics are done`, "");
    out.push(table(["side", "setup", "seconds", "orders/s end to end", "POST /orders p50 / p99 ms", "CPU ms / 1k orders: bench / PostgreSQL / Redis"], orders.runs.map((o) => [
      o.side === "ours" ? "**ours**" : "BullMQ peer", o.side === "ours" ? "as above" : o.setup, o.seconds, n(o.ordersPerSecond),
      `${o.httpMs.p50} / ${o.httpMs.p99}`, `${o.cpuMsPer1k.bench} / ${o.cpuMsPer1k.postgres} / ${o.cpuMsPer1k.redis}`,
    ])));
    out.push("", `Ours / best BullMQ: **${orders.ratio}x**.`, "");
  }
  const burst = r.scenarios.burst;
  if (burst) {
    out.push(`## 1. Burst: ${n(burst.events)} outbox rows inserted by SQL, until every handler is done`, "");
    out.push(table(["handler", "side", "setup", "seconds", "events/s", "CPU ms / 1k events: bench process / PostgreSQL / Redis", "machine CPU busy"], burst.runs.map((b) => [
      KIND_LABEL[b.kind], b.side === "ours" ? "**ours**" : "BullMQ peer", b.side === "ours" ? "as above" : b.setup, b.seconds, n(b.perSecond),
      `${b.cpuMsPer1k.bench} / ${b.cpuMsPer1k.postgres} / ${b.cpuMsPer1k.redis}`, `${b.machineBusyPct} %`,
    ])));
    out.push("", table(["handler", "ours events/s", "best BullMQ events/s", "ours / BullMQ"], burst.summary.map((s) => [
      KIND_LABEL[s.kind], n(s.ours.perSecond), `${n(s.peer.perSecond)} (${s.peer.setup})`, `**${s.ratio}x**`,
    ])), "");
  }
  const latency = r.scenarios.latency;
  if (latency) {
    out.push(`## 2. Latency: ${n(latency.rate)} in-process commits/s for ${latency.seconds} s, commit to handler start`, "");
    out.push(table(["side", "how new events are found", "events", "commits/s achieved", "p50 ms", "p95 ms", "p99 ms", "max ms"], latency.runs.map((l) => [
      l.side === "ours" ? "**ours**" : "BullMQ peer", l.trigger, n(l.events), n(l.achievedRate), l.latencyMs.p50, l.latencyMs.p95, l.latencyMs.p99, l.latencyMs.max,
    ])), "");
    out.push("Where the time goes, p50 / p99 ms (queued = XADD for ours, addBulk for the peer; 1 ms resolution):", "");
    out.push(table(["side", "how new events are found", "commit -> queued", "queued -> handler start"], latency.runs.map((l) => [
      l.side === "ours" ? "**ours**" : "BullMQ peer", l.trigger,
      `${l.stagesMs.commitToQueued.p50} / ${l.stagesMs.commitToQueued.p99}`, `${l.stagesMs.queuedToStart.p50} / ${l.stagesMs.queuedToStart.p99}`,
    ])), "");
  }
  const limits = r.scenarios.limits;
  if (limits) {
    out.push("## 3. Limits of the parts on this machine", "");
    out.push(table(["measurement", "operations", "seconds", "per second", "how"], limits.runs.map((l) => [l.name, n(l.operations), l.seconds, n(l.perSecond), l.how])), "");
  }
  const http = r.scenarios.http;
  if (http) {
    out.push(`## 4. HTTP: POST /orders on the real service, ${http.connections} connections for ${http.seconds} s`, "");
    out.push(table(["requests", "requests/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "non-2xx", "orders stored", "idle RSS MB", "peak memory (VmHWM) MB"], [[
      n(http.requests), n(http.requestsPerSecond), http.latencyMs.p50, http.latencyMs.p90, http.latencyMs.p99, http.latencyMs.max, http.non2xx + http.errors, n(http.ordersStored), http.idleMemoryMb, http.peakMemoryMb,
    ]]), "");
  }
  out.push(METHOD);
  return out.filter((line, i, all) => !(line === "" && all[i - 1] === "")).join("\n") + "\n";
}

const METHOD = `## Method

Every scenario gets a fresh PostgreSQL database (created and migrated, dropped afterwards) and a random Redis key
prefix per side, so neither side sees the other's rows, streams or queues.

**0. The shipped handlers** are the headline: the handlers the service ships (\`src/handlers/\`, every
subscription of the service, started as \`src/service.ts\` starts them) on the shape users have: a flash sale in one
shop, its sign-ups inserted into the outbox by one SQL statement, done when both \`notifications\` (one e-mail row per
event) and \`analytics\` (the tenant's counter) have processed every event. The peer does the same two effects in one
BullMQ job and one transaction with its own \`processed_events\` record. **0b. Orders**: both sides serve the same
HTTP API in the benchmark process; ours delivers with the engine, the peer with the scanner (every 100 ms) and one
BullMQ job per event doing what our handlers do (order.created: reserve, confirm, count; order.confirmed: e-mail,
count). Clients send the orders with a fixed number in flight; the clock runs from the first request to the last effect.

**0c. Partitions** runs scenario 0's burst on our side only, with \`STREAM_PARTITIONS\` 1, 4 and 16 (every type; the
relay spreads \`user.created\` by its aggregate id, a user id per sign-up, so one busy tenant still fills every partition:
the table shows the fewest and most rows a partition got), once on the shared single Redis and once on a local Redis
Cluster of three masters (\`redis-server --cluster-enabled yes\` on free ports, no replicas, no persistence, started for
the run and removed after it; ours connects with \`REDIS_CLUSTER_NODES\`'s client). The six configurations take turns,
round after round (three rounds in the full run), so load from elsewhere on the machine hits them alike; each one's
median counts. Cost is against 1 partition on the single Redis. The cluster's CPU is every \`redis-server\` process,
the shared one included.

**Ours** in the synthetic scenarios below is \`startEngine\` with one subscription and the shipped defaults (listed above;
relay cron every second, \`LOG_LEVEL\` warn): the relay claims rows
\`FOR UPDATE SKIP LOCKED\`, XADDs them in one pipeline and marks them published; the consumer group reads with
\`XREADGROUP\`, runs the handler in a transaction that also inserts the \`processed_events\` record (the engine
decides how many entries share one transaction), commits, then \`XACK\`s. A handled event is counted from the engine's
\`onOutcome\` (\`processed\`).

**The peer** (\`bench/peer/\`) is the seed's design given the same batch size and draining as our relay: a scanner
claims up to 500 rows \`FOR UPDATE SKIP LOCKED\`, \`addBulk\`s them to one BullMQ queue (\`jobId\` = outbox id, the
seed's 3 attempts, exponential backoff, keep 100 completed / 50 failed), marks them published, commits, and goes on
while batches are full; a BullMQ Worker in the same process runs the handler, counted on \`completed\`.

**Handler work.** *No-op*: the handler does nothing. Ours still pays for its exactly-once record (one transaction
with the \`processed_events\` insert per event), because the engine always does; the peer's no-op is free.
*PostgreSQL effect*: one \`UPDATE bench_rows SET n = n + 1\` of the event's own row plus the \`processed_events\`
insert, in one transaction, on both sides (the peer's handler opens that transaction itself). After each run every
row must have been updated exactly once and every outbox row published, or the run fails.

**1. Burst.** The rows are inserted by one SQL statement (as another service would); the clock starts when that
commit returns, and both sides are woken right then (our \`relay.wake()\`, the scanner's \`wake()\`), so polling
intervals do not count. It stops when the last handler finishes. BullMQ Worker concurrency is swept over
16, 64 and 256 and the best is compared; ours runs at its shipped defaults. The CPU columns say where the time
went, per 1,000 events: the benchmark process (where the side's own code runs: our engine, or the scanner and
Worker), every \`postgres\` process and every \`redis-server\` process (server processes are summed by name, so
other load on the same servers counts too); "machine CPU busy" is the share of all cores in use.

**2. Latency.** A producer in the benchmark process commits one event per transaction (\`writeEvent\` in a drizzle
transaction) on a fixed schedule; ours through \`commitWithEvents\`, which wakes the local relay after the commit;
the peer's producer cannot wake anything, so its scanner finds rows on its next scan (the seed's 5 s development
interval, and a fair 100 ms). Latency is from the moment each commit returned to the producer until its handler was
called (both clocks are \`performance.now()\` in the same process; recorded by event id rather than written into
the payload, because a payload is written before its own COMMIT). Worker concurrency 64.

**3. Limits.** Raw pipelined XADD (pipelines of 500, entries shaped like the relay's) and XREADGROUP + XACK
(COUNT 500) from Bun with ioredis; single-row autocommit INSERTs from 8 postgres.js connections; our relay alone
(engine with consumers off) draining a pre-filled outbox, counted from \`onPublished\`.

**4. HTTP.** \`bun src/main.ts\` runs as a child with \`NODE_ENV=production\`, its own database, prefix and port and
all business handlers; ready when \`/health/ready\` answers 200. A few products are created, then autocannon (in the
benchmark process, sharing the machine's cores with the service) sends valid \`POST /orders\` bodies rotating over the
products. Peak memory is the service's \`VmHWM\` from \`/proc/<pid>/status\` after the run (its peak resident set
since start, so it covers the run).

## Reproduce

\`\`\`sh
bun install
bun run bench                 # full size: BENCHMARKS.md and bench/results.json (use an idle machine)
bun run bench --quick         # scaled down, under a minute: bench/out/ (CI: fails only if the harness breaks)
bun run bench --only shipped  # one or more scenarios (shipped, partitions, orders, burst, latency, limits, http): bench/out/
\`\`\`

PostgreSQL and Redis come from \`DATABASE_URL\` and \`REDIS_URL\` (the database name is replaced per run).
`;
