import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from "bun:test";
import type { Cluster } from "ioredis";
import { z } from "zod";
import { isCluster, subscribe, UnrecoverableError } from "../src/engine/index.ts";
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
