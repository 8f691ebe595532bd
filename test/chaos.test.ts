// The chaos run in short (`bun run chaos` is the full one): three service processes on a private
// PostgreSQL and Redis, ~15 s of orders, payments, cancellations, signed webhooks and events made
// to fail, with SIGKILLs, one Redis restart that loses every key and one PostgreSQL restart;
// then nothing acknowledged may be lost and nothing applied twice.
import { afterEach, expect, test } from "bun:test";
import { killProcesses } from "./support/process.ts";
import { runChaos } from "./harness/chaos.ts";

afterEach(async () => {
  await killProcesses();
});

test("SIGKILLs, a Redis data loss and a PostgreSQL restart lose nothing acknowledged and apply nothing twice", async () => {
  const result = await runChaos({ durationMs: 15_000, ordersPerSecond: 12, killEveryMs: 4_000, drainTimeoutMs: 30_000 });
  const kinds = new Set(result.faults.map((f) => f.kind));
  if (result.problems.length > 0) console.log(`${result.summary}\n${result.problems.slice(0, 30).map((p) => p.slice(0, 400)).join("\n")}`);
  expect([...kinds].sort()).toEqual(["postgres-restart", "redis-data-loss", "sigkill"]);
  expect(result.lost).toBe(0);
  expect(result.appliedTwice).toBe(0);
  expect(result.problems).toEqual([]);
}, 120_000);
