// `bun run test`: the whole suite, as several `bun test` processes at once. Most of a test's time
// is spent waiting (deliveries, backoffs, child processes), so shards overlap well even on two
// cores. Every test owns its schema and key prefix, so shards share PostgreSQL and Redis safely.
// Files go to shards by their last known duration (test/durations.json, rewritten with
// --save-durations). Arguments other than flags run those files in one plain `bun test`.
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const DURATIONS = fileURLToPath(new URL("./durations.json", import.meta.url));
const BUN_TEST = ["bun", "test", "--timeout", "30000"];

const args = process.argv.slice(2);
const save = args.includes("--save-durations");
const files = args.filter((a) => !a.startsWith("--"));
if (files.length > 0) {
  const child = Bun.spawn([...BUN_TEST, ...files], { stdin: "inherit", stdout: "inherit", stderr: "inherit" });
  process.exit(await child.exited);
}

const shardCount = Math.max(1, Number(process.env.TEST_SHARDS ?? 3));
/**
 * Run alone once the shards are done: they hold services to their own resources (memory and
 * answers to probes during a flood; a fleet of processes draining a workload within the test's
 * time while being killed), which other shards' load on the same cores would starve.
 */
const ALONE = ["test/hostile-process.test.ts", "test/fleet.test.ts", "test/chaos.test.ts"];
const all = readdirSync(fileURLToPath(new URL(".", import.meta.url))).filter((f) => f.endsWith(".test.ts")).map((f) => `test/${f}`)
  .filter((f) => !ALONE.includes(f)).sort();
const known: Record<string, number> = await Bun.file(DURATIONS).json().catch(() => ({}));
const fallback = 5_000;

// Longest first, each to the shard with the least work so far.
const shards = Array.from({ length: shardCount }, () => ({ files: [] as string[], ms: 0 }));
for (const file of [...all].sort((a, b) => (known[b] ?? fallback) - (known[a] ?? fallback))) {
  const lightest = shards.reduce((min, s) => (s.ms < min.ms ? s : min));
  lightest.files.push(file);
  lightest.ms += known[file] ?? fallback;
}

interface ShardResult { output: string; code: number }

async function runShard(index: number | "alone", shardFiles: string[]): Promise<ShardResult> {
  const child = Bun.spawn([...BUN_TEST, ...shardFiles], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  const output = out + err;
  // Printed whole as each shard ends, so one shard's lines stay together.
  const name = index === "alone" ? "run alone" : `shard ${index + 1}/${shardCount}`;
  console.log(`\n===== ${name} (${shardFiles.length} files) exited ${code} =====\n${output}`);
  return { output, code };
}

const started = Date.now();
const results = await Promise.all(shards.filter((s) => s.files.length > 0).map((s, i) => runShard(i, s.files)));
results.push(await runShard("alone", ALONE));

const total = (word: string) =>
  results.reduce((sum, r) => sum + Number(r.output.match(new RegExp(`^\\s*(\\d+) ${word}$`, "m"))?.[1] ?? 0), 0);
// bun prints each failure twice: where it happened and in its summary.
const failures = [...new Set(results.flatMap((r) => r.output.split("\n").filter((line) => line.startsWith("(fail)"))))];

// Per file: the sum of its tests' times, read from bun's "(pass) name [12.34ms]" lines.
if (save) {
  const measured: Record<string, number> = {};
  for (const { output } of results) {
    let file = "";
    for (const line of output.split("\n")) {
      const header = line.match(/^(test\/[^\s:]+\.test\.ts):$/);
      if (header) file = header[1]!;
      const ms = line.match(/^\((?:pass|fail)\).*\[([\d.]+)(m?s)\]$/);
      if (file && ms) measured[file] = Math.round((measured[file] ?? 0) + Number(ms[1]) * (ms[2] === "s" ? 1000 : 1));
    }
  }
  await Bun.write(DURATIONS, `${JSON.stringify(Object.fromEntries(Object.entries(measured).sort()), null, 2)}\n`);
}

console.log(`\n===== all shards: ${((Date.now() - started) / 1000).toFixed(0)} s =====`);
if (failures.length) console.log(`\n${failures.length} tests failed:\n${failures.join("\n")}`);
console.log(`\n ${total("pass")} pass\n ${total("skip")} skip\n ${total("fail")} fail`);
process.exit(results.some((r) => r.code !== 0) || failures.length > 0 ? 1 : 0);
