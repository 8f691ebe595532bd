import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from "bun:test";
import type { Cluster } from "ioredis";
import { z } from "zod";
import { createRedisCluster, isCluster, scanAll, subscribe, UnrecoverableError } from "../src/engine/index.ts";
import { loadConfig } from "../src/config.ts";
import { createConfiguredRedis } from "../src/deps.ts";
import { pingRedis } from "../src/metrics/probes.ts";
import { drainOutbox } from "../src/engine/outbox/relay.ts";
import { partitionOf } from "../src/engine/partitions/hash.ts";
import { makeLayout } from "../src/engine/partitions/layout.ts";
import { keys } from "../src/engine/redis/keys.ts";
import { createTestContext, TEST_REDIS_CLUSTER_NODES, waitFor, type TestContext } from "./support/context.ts";
import { fieldsOf, pendingOf, readDeadLetters, recordEffect } from "./support/effects.ts";
import { startRedisCluster, type LocalRedisCluster } from "./support/redis-cluster.ts";

// The service on a Redis Cluster. Under `bun run test:cluster` it uses that run's cluster (the
// switch TEST_REDIS_CLUSTER_NODES); in a plain `bun run test` it starts a local one of its own.

let own: LocalRedisCluster | undefined;
let clusterNodes: string;
let ctx: TestContext;
beforeAll(async () => {
  if (TEST_REDIS_CLUSTER_NODES) clusterNodes = TEST_REDIS_CLUSTER_NODES;
  else clusterNodes = (own = await startRedisCluster()).spec;
}, 60_000);
afterAll(() => own?.stop());
beforeEach(async () => (ctx = await createTestContext({ clusterNodes })));
afterEach(() => ctx.cleanup());

const slotOf = async (key: string) => Number(await ctx.redis.cluster("KEYSLOT", key));
const masters = () => (ctx.redis as unknown as Cluster).nodes("master");
const job = z.object({ n: z.number() });

test("the tests' Redis here is a cluster of three masters", async () => {
  expect(isCluster(ctx.redis)).toBe(true);
  await ctx.redis.ping();
  expect(masters()).toHaveLength(3);
  await pingRedis(ctx.redis); // the health check: every slot served
});

test("the client's pipeline and MGET span slots, answering in order with each command's own error; a MULTI across slots is refused", async () => {
  const k = (n: number) => `${ctx.prefix}:client:${n}`;
  const slots = new Set(await Promise.all([1, 2, 3, 4, 5, 6].map((n) => slotOf(k(n)))));
  expect(slots.size).toBeGreaterThan(1);
  const replies = await ctx.redis.pipeline().set(k(1), "a").set(k(2), "b").incr(k(1)).get(k(2)).set(k(3), "c").exec();
  expect(replies!.map(([err, value]) => (err ? err.message.split(" ")[0] : value))).toEqual(["OK", "OK", "ERR", "b", "OK"]);
  expect(await ctx.redis.mget(k(1), k(2), k(3), k(4))).toEqual(["a", "b", "c", null]);
  expect(await ctx.redis.mget([k(3), k(2)])).toEqual(["c", "b"]);
  await expect(ctx.redis.multi().set(k(1), "x").set(k(2), "y").exec()).rejects.toThrow(/same slot/);
  expect(await ctx.redis.get(k(1))).toBe("a");
});

test("scanAll finds the keys of every master", async () => {
  const written = Array.from({ length: 30 }, (_, i) => `${ctx.prefix}:scan:${i}`);
  for (const key of written) await ctx.redis.set(key, "1");
  const holding = await Promise.all(masters().map(async (node) => Number(await node.call("DBSIZE"))));
  expect(holding.filter((n) => n > 0).length).toBeGreaterThan(1);
  expect((await scanAll(ctx.redis, `${ctx.prefix}:scan:*`)).sort()).toEqual(written.sort());
});

test("every key of one partition shares its stream's slot, and so do the service keys a MULTI or script uses together", async () => {
  const { prefix } = ctx;
  for (const type of ["order.created", "user.signed-up"]) {
    for (let p = 0; p < 8; p++) {
      const slot = await slotOf(keys.stream(prefix, type, p));
      for (const handler of ["mailer", "crm:sync"]) {
        expect(await slotOf(keys.orphans(prefix, handler, type, p))).toBe(slot);
        expect(await slotOf(keys.failures(prefix, handler, type, p))).toBe(slot);
        expect(await slotOf(keys.lease(prefix, handler, type, p))).toBe(slot);
      }
    }
  }
  expect(await slotOf(keys.deadLetterCounts(prefix))).toBe(await slotOf(keys.deadLetters(prefix)));
  expect(await slotOf(keys.epochSeq(prefix))).toBe(await slotOf(keys.epoch(prefix)));
  expect(await slotOf(keys.recoveryNonce(prefix))).toBe(await slotOf(keys.epoch(prefix)));
});

test("the relay spreads a type's partitions over more than one master, each event in the stream of its partition", async () => {
  await ctx.sql`
    insert into outbox (event_type, aggregate_id, payload)
    select 'order.placed', 'order-' || g, jsonb_build_object('n', g) from generate_series(1, 300) g`;
  const layout = makeLayout({ count: 8 }, []);
  expect(await drainOutbox({ sql: ctx.sql, redis: ctx.redis, prefix: ctx.prefix, batchSize: 100, layout })).toBe(300);

  const holders = new Map<string, string[]>();
  for (const node of masters()) {
    const [, found] = (await node.call("SCAN", "0", "MATCH", `${ctx.prefix}:*`, "TYPE", "stream", "COUNT", 10_000)) as [string, string[]];
    holders.set(`${node.options.host}:${node.options.port}`, found);
  }
  const streams = [...holders.values()].flat().sort();
  expect(streams).toEqual(Array.from({ length: 8 }, (_, p) => keys.stream(ctx.prefix, "order.placed", p)).sort());
  expect([...holders.values()].filter((found) => found.length > 0).length).toBeGreaterThan(1);
  const published: string[] = [];
  for (let p = 0; p < 8; p++) {
    for (const [, flat] of await ctx.redis.xrange(keys.stream(ctx.prefix, "order.placed", p), "-", "+")) {
      const { id, aggregateId } = fieldsOf(flat);
      expect(partitionOf(aggregateId!, 8)).toBe(p);
      published.push(id!);
    }
  }
  expect(new Set(published).size).toBe(300);
});

test("a relay and a consumer on the cluster handle every event once and dead-letter the one that cannot run", async () => {
  await ctx.startEngine([
    subscribe({
      handler: "worker", eventType: "job.run", schema: job,
      handle: async (e, c) => {
        if (e.payload.n === 13) throw new UnrecoverableError("thirteen");
        await recordEffect(c, e.id);
      },
    }),
  ]);
  await ctx.sql`insert into outbox (event_type, payload) select 'job.run', jsonb_build_object('n', g) from generate_series(1, 40) g`;
  await waitFor("39 handled and 1 dead-lettered", async () =>
    (await ctx.sql`select 1 from effects`).length === 39 && (await readDeadLetters(ctx)).length === 1);
  const handled = await ctx.sql<{ event_id: string }[]>`select event_id from effects`;
  expect(new Set(handled.map((r) => r.event_id)).size).toBe(39);
  expect((await readDeadLetters(ctx))[0]).toMatchObject({ handler: "worker", eventType: "job.run", reason: "unrecoverable" });
  expect(await ctx.redis.hget(keys.deadLetterCounts(ctx.prefix), "job.run")).toBe("1");
  await waitFor("nothing pending", async () => (await pendingOf(ctx, "job.run", "worker")) === 0);
});

test("a master restarted without its data serves its slots again, empty, while the other masters keep theirs", async () => {
  const local = await startRedisCluster(); // its own: the restart must not touch other tests' data
  const redis = createRedisCluster(local.nodes);
  try {
    const written = Array.from({ length: 30 }, (_, i) => `restart:${i}`);
    for (const key of written) await redis.set(key, "1");
    const slotRanges = (await redis.cluster("SLOTS")) as unknown as [number, number, [string, number]][];
    const first = local.nodes[0]!;
    const onFirst = async (key: string) => {
      const slot = Number(await redis.cluster("KEYSLOT", key));
      return slotRanges.some(([from, to, [, port]]) => slot >= from && slot <= to && port === first.port);
    };
    const lost = (await Promise.all(written.map(async (key) => ((await onFirst(key)) ? key : null)))).filter((k) => k !== null);
    expect(lost.length).toBeGreaterThan(0);
    expect(lost.length).toBeLessThan(written.length);

    await local.restartEmpty(0);
    const values = await waitFor("the restarted master answers", async () => {
      try {
        return await Promise.all(written.map((key) => redis.get(key)));
      } catch {
        return null;
      }
    });
    written.forEach((key, i) => expect([key, values[i]]).toEqual([key, lost.includes(key) ? null : "1"]));
  } finally {
    redis.disconnect();
    await local.stop();
  }
}, 60_000);

test("a cluster that requires a password is reached with REDIS_CLUSTER_PASSWORD, and refused without it", async () => {
  const local = await startRedisCluster({ password: "cluster-secret-1" });
  const config = (env: Record<string, string>) => loadConfig({ REDIS_CLUSTER_NODES: local.spec, ...env });
  const withPassword = createConfiguredRedis(config({ REDIS_CLUSTER_PASSWORD: "cluster-secret-1" }));
  const without = createRedisCluster(local.nodes, 1_000); // no password; gives up after 1 s
  try {
    await withPassword.set("auth:check", "1");
    expect(await withPassword.get("auth:check")).toBe("1");
    await expect(without.get("auth:check")).rejects.toThrow();
  } finally {
    withPassword.disconnect();
    without.disconnect();
    await local.stop();
  }
}, 60_000);
