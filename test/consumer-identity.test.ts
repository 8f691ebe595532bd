import { afterEach, beforeEach, expect, test } from "bun:test";
import { PROCESS_IDENTITY, claimConsumerName } from "../src/engine/delivery/consumer-identity.ts";
import { keys } from "../src/engine/redis/keys.ts";
import { createTestContext, type TestContext } from "./support/context.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(() => ctx.cleanup());

const claim = (name: string, signal?: AbortSignal) =>
  claimConsumerName({ redis: ctx.redis, prefix: ctx.prefix, name, log: ctx.log, ttlMs: 5_000, signal, onLost: () => {} });

test("a name held by another process is waited for, not shared", async () => {
  await ctx.redis.set(keys.consumerName(ctx.prefix, "m1"), "other-host|ns|1|token", "PX", 5_000);
  const abort = new AbortController();
  const pending = claim("m1", abort.signal);
  await Bun.sleep(300);
  abort.abort();
  expect(await pending).toBeNull();
  expect(await ctx.redis.get(keys.consumerName(ctx.prefix, "m1"))).toBe("other-host|ns|1|token");
});

test("a process restarted in place (same host, boot, PID namespace and PID) takes its own name back at once", async () => {
  await ctx.redis.set(keys.consumerName(ctx.prefix, "m2"), `${PROCESS_IDENTITY}|previous-life`, "PX", 5_000);
  const identity = await claim("m2");
  expect(identity).not.toBeNull();
  expect(await ctx.redis.get(keys.consumerName(ctx.prefix, "m2"))).not.toContain("previous-life");
  await identity!.release();
  expect(await ctx.redis.exists(keys.consumerName(ctx.prefix, "m2"))).toBe(0);
});

test("two engines of one live process never hold the same name at once", async () => {
  const first = await claim("m3");
  const abort = new AbortController();
  const second = claim("m3", abort.signal);
  await Bun.sleep(300);
  abort.abort();
  expect(await second).toBeNull();
  await first!.release();
});
