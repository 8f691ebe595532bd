// How the engine tells a first start from data loss, and that it never vouches for a Redis that
// lost data again while it was being repaired, or that rolled back without a restart.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { z } from "zod";
import { createRedis, pauseHandler, resumeHandler, subscribe, type LogFields, type Logger } from "../src/engine/index.ts";
import { keys } from "../src/engine/redis/keys.ts";
import { createTestContext, insertOutboxRow, waitFor, type TestContext } from "./support/context.ts";
import { killPrivateRedis, privateRedis } from "./support/private-redis.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(async () => {
  await ctx.cleanup();
  await killPrivateRedis();
});

const job = z.object({ n: z.number() });

function recordingLogger(lines: { level: string; msg: string; fields?: LogFields }[]): Logger {
  const at = (level: string) => (msg: string, fields?: LogFields) => void lines.push({ level, msg, fields });
  const self: Logger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error"), child: () => self };
  return self;
}

async function wipePrefix(): Promise<void> {
  let cursor = "0";
  do {
    const [next, found] = await ctx.redis.scan(cursor, "MATCH", `${ctx.prefix}:*`, "COUNT", 1000);
    cursor = next;
    if (found.length) await ctx.redis.del(...found);
  } while (cursor !== "0");
}

test("a first start on an empty Redis says it created the consumer groups; losing Redis's data later is the warning", async () => {
  const lines: { level: string; msg: string }[] = [];
  const engine = await ctx.startEngine([subscribe({ handler: "h", eventType: "job.run", schema: job, handle: async () => {} })], { log: recordingLogger(lines) });
  await waitFor("the sentinel", async () => (await ctx.redis.get(keys.epoch(ctx.prefix))) !== null);
  expect(lines.filter((l) => l.level === "warn")).toEqual([]);
  expect(lines.some((l) => l.level === "info" && l.msg === "created consumer groups")).toBe(true);
  expect(engine.status().recovery?.last?.reason).toBe("first_start");

  await wipePrefix();
  await waitFor("the recovery", () => engine.status().recovery?.last?.reason === "missing");
  expect(lines.some((l) => l.level === "warn" && l.msg.startsWith("Redis lost data or restarted"))).toBe(true);
});

test("Redis losing its data again while a recovery runs: no sentinel vouches for it, the recovery runs again and the event is delivered", async () => {
  const server = await privateRedis();
  await server.start();
  const redis = createRedis(server.url);
  await redis.connect();
  const lines: { level: string; msg: string }[] = [];
  let handled = 0;
  const sub = subscribe({ handler: "h", eventType: "job.run", schema: job, handle: async () => void handled++ });
  const engine = await ctx.startEngine([sub], { redis, log: recordingLogger(lines), env: { RELAY_CRON: "0 0 1 1 *" } });
  await waitFor("the first sentinel", async () => (await redis.get(keys.epoch(ctx.prefix))) !== null);
  // Published and then lost with Redis's data: only a recovery can deliver it.
  const id = await insertOutboxRow(ctx.sql, "job.run", { n: 1 });
  await ctx.sql`update outbox set published_at = clock_timestamp(), stream_id = '1-0' where id = ${id}`;

  // The moment the next recovery writes its token, Redis loses everything once more.
  const watcher = createRedis(server.url);
  await watcher.connect();
  await redis.config("SET", "notify-keyspace-events", "K$");
  let flushed = 0;
  watcher.on("message", () => {
    if (flushed++ === 0) void redis.flushall();
  });
  await watcher.subscribe(`__keyspace@0__:${keys.recoveryNonce(ctx.prefix)}`);
  await redis.flushall();

  await waitFor("the event delivered", () => handled === 1, 15_000);
  await waitFor("the sentinel back", async () => (await redis.get(keys.epoch(ctx.prefix))) !== null, 15_000);
  expect(flushed).toBeGreaterThanOrEqual(1);
  expect(lines.some((l) => l.msg.includes("during the recovery; running it again"))).toBe(true);
  await engine.stop();
  watcher.disconnect();
  redis.disconnect();
});

test("writes rolled back without a restart (the run id unchanged, the sentinel kept) are noticed by the write counter and recovered", async () => {
  let handled = 0;
  const sub = subscribe({ handler: "h", eventType: "job.run", schema: job, handle: async () => void handled++ });
  const engine = await ctx.startEngine([sub], { env: { RELAY_CRON: "0 0 1 1 *" } });
  await waitFor("the sentinel", async () => (await ctx.redis.get(keys.epoch(ctx.prefix))) !== null);
  await Bun.sleep(1_200); // a few checks counted
  // What a failover to a replica that missed the last writes leaves: the event's entry and the
  // latest counts are gone, the old sentinel is still there.
  const id = await insertOutboxRow(ctx.sql, "job.run", { n: 1 });
  await ctx.sql`update outbox set published_at = clock_timestamp(), stream_id = '1-0' where id = ${id}`;
  await ctx.redis.set(keys.epochSeq(ctx.prefix), "1");

  await waitFor("the event delivered", () => handled === 1, 10_000);
  await waitFor("the recovery reported", () => engine.status().recovery?.last?.reason === "rolled_back");
});

test("a recovery run again does not publish an event again to a handler that has it waiting in an entry published for it alone", async () => {
  const ran: string[] = [];
  const on = (handler: string) => subscribe({ handler, eventType: "job.run", schema: job, handle: async () => void ran.push(handler) });
  const engine = await ctx.startEngine([on("a"), on("b")], { env: { RELAY_CRON: "* * * * * *" } });
  await engine.consumersStarted;
  await waitFor("the first sentinel", async () => (await ctx.redis.get(keys.epoch(ctx.prefix))) !== null);
  await pauseHandler(ctx.redis, ctx.prefix, "b", "test");
  await Bun.sleep(1_200);
  const id = await insertOutboxRow(ctx.sql, "job.run", { n: 1 });
  await waitFor("a ran it", () => ran.includes("a"));
  // b never got it: its entry is gone before b read it.
  const stream = keys.stream(ctx.prefix, "job.run");
  const entryId = (await ctx.redis.xrange(stream, "-", "+"))[0]![0];
  await ctx.redis.xdel(stream, entryId);
  const forB = async () => (await ctx.redis.xrange(stream, "-", "+")).filter(([, f]) => f[f.indexOf("id") + 1] === id && f.includes("target")).length;
  for (let round = 1; round <= 2; round++) {
    const before = engine.status().recovery?.last?.at.getTime() ?? 0;
    await ctx.redis.del(keys.epoch(ctx.prefix));
    await waitFor(`recovery ${round}`, () => (engine.status().recovery?.last?.at.getTime() ?? 0) > before);
    expect(await forB()).toBe(1);
  }
  await resumeHandler(ctx.redis, ctx.prefix, "b");
  await waitFor("b ran it", () => ran.includes("b"));
  await Bun.sleep(500);
  expect(ran.filter((h) => h === "b")).toEqual(["b"]);
});
