// `bun run bench [--quick] [--only shipped,partitions,orders,burst,latency,limits,http]`: runs both sides of every scenario
// on this machine, one after the other, and writes the report. See BENCHMARKS.md for the method.
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describeMachine } from "./machine.ts";
import { describeOurs, ourConfig, poolSizeOf } from "./ours.ts";
import { renderReport } from "./report.ts";
import { runBurst } from "./scenarios/burst.ts";
import { runShipped } from "./scenarios/shipped.ts";
import { runPartitions } from "./scenarios/partitions.ts";
import { runOrderMix } from "./scenarios/order-mix.ts";
import { runHttp } from "./scenarios/http.ts";
import { runLatency } from "./scenarios/latency.ts";
import { runLimits } from "./scenarios/limits.ts";
import { FULL, QUICK, type Plan } from "./sizes.ts";
import { cleanupAll, exitCleanlyOnSignals, interruption } from "./support/cleanup.ts";
import { evaluateTargets } from "./targets.ts";

const SCENARIOS = { shipped: runShipped, partitions: runPartitions, orders: runOrderMix, burst: runBurst, latency: runLatency, limits: runLimits, http: runHttp } satisfies Record<string, (plan: Plan) => Promise<unknown>>;
type ScenarioName = keyof typeof SCENARIOS;
const NAMES = Object.keys(SCENARIOS) as ScenarioName[];
const ROOT = fileURLToPath(new URL("..", import.meta.url));

export interface RunResults {
  mode: "full" | "quick";
  date: string;
  command: string;
  durationSeconds: number;
  /** Our throughput settings, the `--set` overrides among them, and the pool size both sides got. */
  ours: { settings: string; overrides: Record<string, string>; poolSize: number };
  machine: Awaited<ReturnType<typeof describeMachine>>;
  scenarios: Partial<{ [K in ScenarioName]: Awaited<ReturnType<(typeof SCENARIOS)[K]>> }>;
  errors: Partial<Record<ScenarioName, string>>;
  targets: ReturnType<typeof evaluateTargets>;
}

function parseArgs(argv: string[]): { quick: boolean; only: ScenarioName[] | null; set: Record<string, string> } {
  let quick = false;
  let only: ScenarioName[] | null = null;
  const set: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--quick") quick = true;
    else if (arg === "--set") {
      const [key, ...value] = (argv[++i] ?? "").split("=");
      if (!key || !/^[A-Z][A-Z0-9_]*$/.test(key) || value.length === 0) usage(`--set takes KEY=VALUE, e.g. --set CONSUMER_CONCURRENCY=8`);
      set[key] = value.join("=");
    }
    else if (arg === "--only" || arg.startsWith("--only=")) {
      const value = arg === "--only" ? argv[++i] : arg.slice("--only=".length);
      const names = (value ?? "").split(",").filter(Boolean);
      const unknown = names.filter((n) => !NAMES.includes(n as ScenarioName));
      if (names.length === 0 || unknown.length) usage(`--only takes one or more of ${NAMES.join(", ")} (got "${value ?? ""}")`);
      only = names as ScenarioName[];
    } else if (arg === "--help" || arg === "-h") usage();
    else usage(`unknown argument ${arg}`);
  }
  return { quick, only, set };
}

function usage(problem?: string): never {
  if (problem) console.error(problem);
  console.error(`usage: bun run bench [--quick] [--only ${NAMES.join(",")}] [--set KEY=VALUE ...]
  (no flags)     full size, writes BENCHMARKS.md and bench/results.json (run on an idle machine)
  --quick        every scenario scaled down (under a minute), writes bench/out/; fails only when the harness breaks
  --only a,b     just these scenarios, writes bench/out/
  --set K=V      our configuration instead of its shipped default (repeatable), writes bench/out/`);
  process.exit(problem ? 2 : 0);
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  exitCleanlyOnSignals();
  const oursConfig = ourConfig(args.set);
  const plan: Plan = { size: args.quick ? QUICK : FULL, oursEnv: args.set, poolSize: poolSizeOf(oursConfig) };
  const selected = args.only ?? NAMES;
  const started = performance.now();
  const results: RunResults = {
    mode: args.quick ? "quick" : "full",
    date: new Date().toISOString(),
    command: ["bun run bench", ...process.argv.slice(2)].join(" "),
    durationSeconds: 0,
    ours: { settings: describeOurs(oursConfig), overrides: args.set, poolSize: plan.poolSize },
    machine: await describeMachine(),
    scenarios: {},
    errors: {},
    targets: [],
  };
  for (const name of selected) {
    const t0 = performance.now();
    console.log(`== ${name} ...`);
    try {
      (results.scenarios as Record<string, unknown>)[name] = await SCENARIOS[name](plan);
      console.log(`== ${name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    } catch (err) {
      results.errors[name] = (err as Error).message;
      console.error(`== ${name} FAILED: ${(err as Error).message}`);
      await cleanupAll(); // whatever the failed scenario left behind, before the next one starts
    }
    const stopped = interruption();
    if (stopped) return stopped.code;
  }
  results.durationSeconds = Math.round((performance.now() - started) / 100) / 10;
  results.targets = evaluateTargets(results.scenarios);

  const partial = args.quick || args.only !== null || Object.keys(args.set).length > 0;
  const outDir = partial ? `${ROOT}bench/out/` : ROOT;
  await mkdir(outDir, { recursive: true });
  const markdown = renderReport(results);
  const reportPath = `${outDir}BENCHMARKS.md`;
  const jsonPath = partial ? `${outDir}results.json` : `${ROOT}bench/results.json`;
  await Bun.write(reportPath, markdown);
  await Bun.write(jsonPath, JSON.stringify(results, null, 2) + "\n");
  console.log(markdown.split("\n## Method")[0]);
  console.log(`wrote ${reportPath.replace(ROOT, "")} and ${jsonPath.replace(ROOT, "")} (${results.durationSeconds} s)`);
  const failed = Object.keys(results.errors);
  if (failed.length) console.error(`harness failures: ${failed.join(", ")}`);
  return failed.length ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  console.error(`bench failed: ${(err as Error).stack ?? err}`);
} finally {
  await cleanupAll();
}
process.exit(code);
