// The chaos run in short (`bun run chaos` is the full one): three service processes on a private
// PostgreSQL and Redis, ~15 s of orders, payments, cancellations, signed webhooks and events made
// to fail, with SIGKILLs, one Redis restart that loses every key and one PostgreSQL restart;
// then nothing acknowledged may be lost and nothing applied twice. And the data loss of --cluster:
// one master of the private Redis Cluster restarted empty.
import { afterEach, expect, test } from "bun:test";
import { killProcesses } from "./support/process.ts";
import { runChaos } from "./harness/chaos.ts";
import { startChaosRedisCluster } from "./harness/chaos-infra.ts";

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

test("on the chaos run's Redis Cluster, losing data empties one master and leaves the others' keys", async () => {
  const cluster = await startChaosRedisCluster();
  const redis = cluster.client();
  try {
    await redis.connect();
    const names = Array.from({ length: 300 }, (_, i) => `chaos-test:${i}`);
    for (const name of names) await redis.set(name, "1");
    expect(await cluster.countKeys()).toBe(300);

    const what = await cluster.loseData(0, () => 0.5);
    expect(what).toContain("master 2 of 3");
    const held = Number(/(\d+) keys\)/.exec(what)?.[1]);
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThan(300);
    // The cluster serves every slot again; only the restarted master's keys are gone.
    const values = await Promise.all(names.map((name) => redis.get(name)));
    expect(values.filter((v) => v === "1").length).toBe(300 - held);
    expect(await cluster.countKeys()).toBe(300 - held);
  } finally {
    redis.disconnect();
    await cluster.stop();
  }
  await expect(cluster.countKeys()).rejects.toThrow(); // its nodes are gone
}, 60_000);
