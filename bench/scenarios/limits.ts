// Scenario 3: what the pieces can do alone on this machine, as ceilings for the end-to-end numbers:
// raw Redis Streams from Bun with ioredis, PostgreSQL single-row commits, and our relay by itself.
import postgres from "postgres";
import { startOurs } from "../ours.ts";
import type { Plan, Sizes } from "../sizes.ts";
import { Completion } from "../support/completion.ts";
import { perSecond, round } from "../support/stats.ts";
import { insertOutboxRows } from "../support/workload.ts";
import { createWorld, type World } from "../support/world.ts";
import { encodeEvent } from "../../src/engine/redis/entry.ts";

export interface LimitRun {
  name: string;
  operations: number;
  seconds: number;
  perSecond: number;
  how: string;
}

export interface LimitsResult {
  runs: LimitRun[];
}

const PIPELINE = 500;

export async function runLimits(plan: Plan): Promise<LimitsResult> {
  const world = await createWorld("limits", plan);
  try {
    const runs = [...(await redisStreams(world, plan.size)), await pgCommits(world, plan.size)];
    return { runs: [...runs, await relayAlone(plan)] };
  } finally {
    await world.dispose();
  }
}

/** Pipelined XADD of entries shaped like the relay's, then XREADGROUP + XACK of all of them. */
async function redisStreams(world: World, size: Sizes): Promise<LimitRun[]> {
  const n = size.limits.redisEntries;
  const stream = `${world.prefix}:raw`;
  const fields = (i: number) => encodeEvent({
    id: crypto.randomUUID(), type: "bench.raw", aggregateId: `order-${i}`, tenantId: null,
    occurredAt: new Date().toISOString(), payload: JSON.stringify({ row: i, sku: `SKU-${i % 100}`, quantity: 1 + (i % 3) }),
  });
  let t0 = performance.now();
  for (let i = 0; i < n; i += PIPELINE) {
    const pipeline = world.redis.pipeline();
    for (let j = i; j < Math.min(n, i + PIPELINE); j++) pipeline.xadd(stream, "*", ...fields(j));
    await pipeline.exec();
  }
  const xaddMs = performance.now() - t0;

  await world.redis.xgroup("CREATE", stream, "raw", "0");
  t0 = performance.now();
  let read = 0;
  for (;;) {
    const reply = (await world.redis.xreadgroup("GROUP", "raw", "c1", "COUNT", PIPELINE, "STREAMS", stream, ">")) as [string, [string, string[]][]][] | null;
    const entries = reply?.[0]?.[1] ?? [];
    if (entries.length === 0) break;
    await world.redis.xack(stream, "raw", ...entries.map(([id]) => id));
    read += entries.length;
  }
  const readMs = performance.now() - t0;
  if (read !== n) throw new Error(`limits: read ${read} of ${n} raw entries`);
  await world.redis.unlink(stream);
  return [
    { name: "Redis XADD, pipelined", operations: n, seconds: round(xaddMs / 1000, 3), perSecond: perSecond(n, xaddMs), how: `ioredis pipelines of ${PIPELINE}, entries shaped like the relay's` },
    { name: "Redis XREADGROUP + XACK", operations: n, seconds: round(readMs / 1000, 3), perSecond: perSecond(n, readMs), how: `COUNT ${PIPELINE}, then one XACK per batch, one connection` },
  ];
}

/** Single-row INSERTs, each its own commit, from `pgClients` connections at once. */
async function pgCommits(world: World, size: Sizes): Promise<LimitRun> {
  const { pgClients, pgSeconds } = size.limits;
  await world.sql`create table bench_commits (id bigserial primary key, at timestamptz not null default now(), note text)`;
  const sql = postgres(world.url, { max: pgClients, onnotice: () => {} });
  try {
    await Promise.all(Array.from({ length: pgClients }, () => sql`select 1`)); // connections open before timing
    let commits = 0;
    const t0 = performance.now();
    const until = t0 + pgSeconds * 1000;
    await Promise.all(Array.from({ length: pgClients }, async (_, c) => {
      while (performance.now() < until) {
        await sql`insert into bench_commits (note) values (${`client ${c}`})`;
        commits++;
      }
    }));
    const ms = performance.now() - t0;
    return { name: `PostgreSQL single-row commits, ${pgClients} clients`, operations: commits, seconds: round(ms / 1000, 3), perSecond: perSecond(commits, ms), how: "autocommit INSERT per statement, postgres.js" };
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** Our relay by itself: rows/s from a pre-filled outbox into Redis, no consumers running. */
async function relayAlone(plan: Plan): Promise<LimitRun> {
  const n = plan.size.limits.relayRows;
  const world = await createWorld("relay", plan);
  const completion = new Completion(n, "relay alone", plan.size.stallMs);
  try {
    const ours = await startOurs(world, {
      eventType: "bench.relay",
      env: plan.oursEnv,
      parts: { consumers: false, maintenance: false, stats: false },
      onPublished: (counts) => completion.hit(Object.values(counts).reduce((a, b) => a + b, 0)),
    });
    await insertOutboxRows(world.sql, "bench.relay", n);
    const t0 = performance.now();
    ours.engine.relay?.wake();
    const ms = (await completion.done) - t0;
    await ours.stop();
    const length = await world.redis.xlen(`${world.prefix}:bench.relay`);
    if (length !== n) throw new Error(`relay alone: ${length} stream entries for ${n} rows`);
    return { name: "our relay alone", operations: n, seconds: round(ms / 1000, 3), perSecond: perSecond(n, ms), how: `pre-filled outbox, batches of ${ours.config.RELAY_BATCH_SIZE} (claim, XADD pipeline, mark published), no consumers` };
  } finally {
    completion.dispose();
    await world.dispose();
  }
}
