// A consumer group that vanishes and cannot be recreated (Redis refuses writes) must not turn the
// read loop into a busy loop writing a warning each time round.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { z } from "zod";
import { createRedis, subscribe, type LogFields, type Logger } from "../src/engine/index.ts";
import { keys } from "../src/engine/redis/keys.ts";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { killPrivateRedis, privateRedis } from "./support/private-redis.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(async () => {
  await ctx.cleanup();
  await killPrivateRedis();
});

/** A logger that keeps every line, to count what the engine said. */
function recordingLogger(lines: { level: string; msg: string }[], bound: LogFields = {}): Logger {
  const at = (level: string) => (msg: string) => void lines.push({ level, msg });
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error"), child: (f) => recordingLogger(lines, { ...bound, ...f }) };
}

const calls = async (redis: ReturnType<typeof createRedis>, command: string) =>
  Number(/calls=(\d+)/.exec((await redis.info("commandstats")).split("\n").find((l) => l.startsWith(`cmdstat_${command}:`)) ?? "")?.[1] ?? 0);

test("a group lost while Redis refuses writes: the loops back off and warn once, and reading resumes once Redis takes writes again", async () => {
  const server = await privateRedis();
  await server.start();
  const redis = createRedis(server.url);
  await redis.connect();
  const lines: { level: string; msg: string }[] = [];
  let handled = 0;
  const engine = await ctx.startEngine([
    subscribe({ handler: "h", eventType: "user.created", schema: z.object({ userId: z.string() }), handle: async () => void handled++ }),
  ], { redis, log: recordingLogger(lines), parts: { relay: false, maintenance: false, stats: false }, env: { READ_BLOCK_MS: "100" } });
  await engine.consumersStarted;
  const stream = keys.stream(ctx.prefix, "user.created");

  await redis.config("SET", "maxmemory-policy", "noeviction");
  await redis.config("SET", "maxmemory", "1");
  await redis.xgroup("DESTROY", stream, "h");
  const before = await calls(redis, "xreadgroup");
  await Bun.sleep(3_000);
  const reads = (await calls(redis, "xreadgroup")) - before;
  expect(reads).toBeLessThan(60);
  expect(lines.filter((l) => l.msg === "consumer group missing; recreating it").length).toBe(1);

  await redis.config("SET", "maxmemory", "0");
  await waitFor("the group back", async () => ((await redis.xinfo("GROUPS", stream)) as unknown[]).length === 1, 10_000);
  await redis.xadd(stream, "*", "id", crypto.randomUUID(), "type", "user.created", "occurredAt", new Date().toISOString(), "payload", '{"userId":"u1"}');
  await waitFor("the event handled", () => handled === 1, 10_000);
  await engine.stop();
  redis.disconnect();
});
