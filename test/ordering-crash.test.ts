// Three service processes share an ordered handler's partitions; one is SIGKILLed while events
// are in flight. Its partitions move to the others, which first take its pending entries over:
// every aggregate's events still run in the order they were written, each exactly once.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { keys } from "../src/engine/redis/keys.ts";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { countRuns, createSequenceTable, range, runOrder, writeSteps } from "./support/ordered.ts";
import { killProcesses, startProcess } from "./support/process.ts";

let ctx: TestContext;
beforeEach(async () => {
  ctx = await createTestContext();
  await createSequenceTable(ctx.sql);
});
afterEach(async () => {
  await killProcesses();
  await ctx.cleanup();
});

const PARTITIONS = 4;
const worker = (name: string) =>
  startProcess(ctx, { entry: "ordered", env: { CONSUMER_NAME: name, HANDLER_SLEEP_MS: "15", CLAIM_IDLE_MS: "1500", STREAM_PARTITIONS: String(PARTITIONS) } });
const holders = () => Promise.all(range(0, PARTITIONS - 1).map(async (p) => (await ctx.redis.get(keys.lease(ctx.prefix, "seq", "step.done", p)))?.split("|")[0] ?? null));

test("a SIGKILLed one of three processes loses its partitions to the others, and every aggregate's events still run in order, once each", async () => {
  const procs = ["a", "b", "c"].map(worker);
  await Promise.all(procs.map((p) => p.waitForLine(/"msg":"consumers started"/, 20_000)));
  await waitFor("every partition owned by a live process", async () => (await holders()).every((h) => h !== null), 20_000);
  const owners = await holders();
  // The victim owns at least one partition (the one owning the most).
  const victim = ["a", "b", "c"].sort((x, y) => owners.filter((o) => o === y).length - owners.filter((o) => o === x).length)[0]!;
  const aggregates = range(1, 9).map((i) => `order-${i}`);
  // create, pay, cancel, ... in quick succession, one transaction each.
  await writeSteps(ctx, aggregates, 1, 6);
  await waitFor("runs under way", async () => (await countRuns(ctx.sql)) >= 10, 20_000);
  procs[["a", "b", "c"].indexOf(victim)]!.kill("SIGKILL");
  await writeSteps(ctx, aggregates, 7, 12);
  await waitFor("the victim's partitions moved", async () => (await holders()).every((h) => h !== null && h !== victim), 20_000);
  await waitFor("every event run", async () => (await countRuns(ctx.sql)) >= aggregates.length * 12, 45_000);

  const order = await runOrder(ctx.sql);
  for (const a of aggregates) expect({ a, steps: order.get(a) }).toEqual({ a, steps: range(1, 12) });
  expect(await countRuns(ctx.sql)).toBe(aggregates.length * 12);
  expect(Number((await ctx.sql`select count(*)::int as n from dead_letters`)[0]!.n)).toBe(0);
}, 120_000);
