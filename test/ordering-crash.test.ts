// Three service processes share an ordered handler's partitions; one is SIGKILLed while events
// are in flight. Its partitions move to the others, which first take its pending entries over:
// every aggregate's events still run in the order they were written, each exactly once; on one
// type, and across three types (each its own streams and leases) through the ordered backlog.
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
const worker = (name: string, env: Record<string, string> = {}) =>
  startProcess(ctx, { entry: "ordered", env: { CONSUMER_NAME: name, HANDLER_SLEEP_MS: "15", CLAIM_IDLE_MS: "1500", STREAM_PARTITIONS: String(PARTITIONS), ...env } });
/** Who holds each partition's lease of "seq" on each of `types`, in that order (null: nobody). */
const leaseHolders = (types: readonly string[]) => Promise.all(types.flatMap((type) => range(0, PARTITIONS - 1).map(async (p) =>
  (await ctx.redis.get(keys.lease(ctx.prefix, "seq", type, p)))?.split("|")[0] ?? null)));
const holders = () => leaseHolders(["step.done"]);

test("a SIGKILLed one of three processes loses its partitions to the others, and every aggregate's events still run in order, once each", async () => {
  const procs = ["a", "b", "c"].map((name) => worker(name));
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

/** An order's life as its ordered handler must see it, whatever partition or process each type runs on. */
const LIFE = ["order.created", "order.paid", "order.cancelled"] as const;

/** Each order's create, pay and cancel as another service writes them: plain SQL, one committed insert after another. */
async function writeLives(orders: string[], writers = 4): Promise<void> {
  const queue = [...orders];
  await Promise.all(range(1, writers).map(async () => {
    for (let order = queue.shift(); order !== undefined; order = queue.shift()) {
      for (const [i, type] of LIFE.entries()) {
        await ctx.sql`insert into outbox (event_type, aggregate_id, payload) values (${type}, ${order}, ${JSON.stringify({ step: i + 1 })}::jsonb)`;
      }
    }
  }));
}

// The issue's acceptance test: "orders with create, pay and cancel sent in quick succession over
// three processes. An ordered handler records a per-aggregate sequence, and the test asserts it is
// never out of order, including through a SIGKILL and a partition handover."
test("create, pay and cancel of each order, sent in quick succession over three processes, run in that order once each, through a SIGKILL and a partition handover", async () => {
  const names = ["a", "b", "c"];
  const procs = names.map((name) => worker(name, { EVENT_TYPES: LIFE.join(","), HANDLER_SLEEP_MS: "10" }));
  await Promise.all(procs.map((p) => p.waitForLine(/"msg":"consumers started"/, 30_000)));
  const holders = () => leaseHolders(LIFE);
  await waitFor("every partition of every type owned", async () => (await holders()).every((h) => h !== null), 30_000);
  const runsBy = async (consumer: string) => Number((await ctx.sql`select count(*)::int as n from sequence where consumer = ${consumer}`)[0]!.n);

  const before = range(1, 40).map((i) => `order-${i}`);
  const after = range(41, 80).map((i) => `order-${i}`);
  await writeLives(before);
  // The victim: whoever holds the most partitions, once it has run some of these orders.
  const owners = await holders();
  const victim = [...names].sort((x, y) => owners.filter((o) => o === y).length - owners.filter((o) => o === x).length)[0]!;
  await waitFor("the victim running events", async () => (await runsBy(victim)) >= 3, 30_000);
  const victimFences = await ctx.sql<{ event_type: string; partition: number; generation: number }[]>`
    select event_type, partition, generation from partition_fences where handler = 'seq' and owner = ${victim}`;
  procs[names.indexOf(victim)]!.kill("SIGKILL");
  await procs[names.indexOf(victim)]!.exited;
  const [mark] = await ctx.sql<{ n: number }[]>`select coalesce(max(n), 0)::int as n from sequence`;
  await writeLives(after);

  const orders = [...before, ...after];
  await waitFor("the victim's partitions taken by the others", async () => (await holders()).every((h) => h !== null && h !== victim), 30_000);
  await waitFor("every event run", async () => (await countRuns(ctx.sql)) >= orders.length * LIFE.length, 90_000);

  // Every order's record is exactly create, pay, cancel: never out of order, nothing missing, nothing twice.
  const rows = await ctx.sql<{ aggregate_id: string; event_type: string }[]>`select aggregate_id, event_type from sequence order by n`;
  const seen = new Map<string, string[]>();
  for (const r of rows) seen.set(r.aggregate_id, [...(seen.get(r.aggregate_id) ?? []), r.event_type]);
  for (const o of orders) expect({ o, types: seen.get(o) }).toEqual({ o, types: [...LIFE] });
  expect(rows.length).toBe(orders.length * LIFE.length);

  // A handover happened: every partition the victim held has a new owner under a higher
  // generation, and the others ran events of those partitions after the kill.
  expect(victimFences.length).toBeGreaterThan(0);
  const fences = await ctx.sql<{ event_type: string; partition: number; generation: number; owner: string }[]>`
    select event_type, partition, generation, owner from partition_fences where handler = 'seq'`;
  for (const held of victimFences) {
    const now = fences.find((f) => f.event_type === held.event_type && f.partition === held.partition)!;
    expect({ ...held, newOwner: now.owner !== victim, raised: now.generation > held.generation }).toEqual({ ...held, newOwner: true, raised: true });
  }
  const [takenOver] = await ctx.sql<{ n: number }[]>`
    select count(*)::int as n from sequence s join outbox o on o.id = s.event_id
    join jsonb_to_recordset(${JSON.stringify(victimFences)}::jsonb) as f(event_type text, partition int)
      on f.event_type = o.event_type and f.partition = coalesce(o.stream_partition, 0)
    where s.n > ${mark!.n} and s.consumer <> ${victim}`;
  expect(takenOver!.n).toBeGreaterThan(0);
  // What the handler owed is all settled, and nothing was dead-lettered.
  expect(Number((await ctx.sql`select count(*)::int as n from ordered_backlog`)[0]!.n)).toBe(0);
  expect(Number((await ctx.sql`select count(*)::int as n from dead_letters`)[0]!.n)).toBe(0);
}, 180_000);
