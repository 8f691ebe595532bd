// `bun run chaos [--duration 120] [--seed 1] [--rate 10] [--kill-every 6] [--partitions N] [--cluster]`:
// the chaos run at full size on a private PostgreSQL and Redis, or with --cluster a private
// three-master Redis Cluster (removed afterwards, pass or fail, also on Ctrl-C or SIGTERM). Prints
// the table and the problems; exits 1 on any loss, double effect or broken invariant.
import { parseArgs } from "node:util";
import { killProcesses } from "../support/process.ts";
import { runChaos } from "./chaos.ts";

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "120" },
    seed: { type: "string", default: "1" },
    rate: { type: "string", default: "10" },
    "kill-every": { type: "string", default: "6" },
    /** STREAM_PARTITIONS of every process. */
    partitions: { type: "string" },
    cluster: { type: "boolean", default: false },
  },
});
const number = (name: string, value: string | undefined) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`--${name} must be a number above 0, got ${value}`);
    process.exit(2);
  }
  return n;
};
const durationMs = Math.round(number("duration", values.duration) * 1000);
const seed = Math.round(number("seed", values.seed));
const ordersPerSecond = number("rate", values.rate);
const killEveryMs = Math.round(number("kill-every", values["kill-every"]) * 1000);
const partitions = values.partitions === undefined ? undefined : number("partitions", values.partitions);
if (partitions !== undefined && (!Number.isInteger(partitions) || partitions > 1024)) {
  console.error(`--partitions must be a whole number from 1 to 1024, got ${values.partitions}`);
  process.exit(2);
}

const log = (line: string) => console.log(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}`);
// Signals and a hard deadline: the service processes go here, the private servers and their
// directories in chaos-infra's exit hook. `timeout` signals the whole process group, twice: a
// second signal must not cut the first one's cleanup short.
const stopping = new AbortController();
const abort = async (why: string, code: number) => {
  if (stopping.signal.aborted) return;
  stopping.abort(); // before the kill: the run must not restart what is killed now
  console.error(`chaos run stopped: ${why}`);
  await killProcesses().catch(() => {});
  process.exit(code);
};
process.on("SIGINT", () => void abort("SIGINT", 130));
process.on("SIGTERM", () => void abort("SIGTERM", 143));
const deadline = setTimeout(() => void abort("over its time limit", 1), durationMs + 240_000);

let failed = true;
try {
  const result = await runChaos({ durationMs, seed, ordersPerSecond, killEveryMs, partitions, cluster: values.cluster, log, signal: stopping.signal });
  console.log(result.summary);
  for (const problem of result.problems.slice(0, 40)) console.log(`  - ${problem.slice(0, 400)}`);
  if (result.problems.length > 40) console.log(`  ... and ${result.problems.length - 40} more`);
  failed = result.problems.length > 0 || result.lost > 0 || result.appliedTwice > 0;
} catch (err) {
  console.error(`chaos run failed: ${(err as Error).stack ?? err}`);
}
clearTimeout(deadline);
process.exit(failed ? 1 : 0);
