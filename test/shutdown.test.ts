// SIGTERM stops a consumer process without leaving work half done: a handler that finishes in
// time is committed and acked; one that does not is abandoned, rolled back and handed over.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { keys } from "../src/engine/redis/keys.ts";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { killProcesses, startProcess } from "./support/process.ts";
import { deadLetterCount, insertJob, pendingCount, readEffects } from "./support/worker.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(async () => {
  await killProcesses();
  await ctx.cleanup();
});

const worker = (name: string, env: Record<string, string>) =>
  startProcess(ctx, { env: { CONSUMER_NAME: name, CLAIM_IDLE_MS: "1500", ...env } });

test("SIGTERM mid-handler lets the handler finish, acks it, releases the consumer name and exits 0", async () => {
  const child = worker("a", { HANDLER_SLEEP_MS: "1500", SHUTDOWN_TIMEOUT_MS: "10000" });
  await child.port();
  expect(await ctx.redis.exists(keys.consumerName(ctx.prefix, "a"))).toBe(1);
  const eventId = await insertJob(ctx);
  await child.waitForLine(new RegExp(`^STARTED ${eventId}$`));

  child.kill("SIGTERM");
  expect(await child.waitForExit()).toBe(0);

  expect(await readEffects(ctx, eventId)).toEqual([{ handler: "slow", note: "a" }]);
  expect(await pendingCount(ctx)).toBe(0);
  expect(await deadLetterCount(ctx)).toBe(0);
  expect(await ctx.redis.exists(keys.consumerName(ctx.prefix, "a"))).toBe(0);
  expect(child.stdout.some((l) => l.includes('"level":"error"'))).toBe(false);
}, 20_000);

test("a handler outliving SHUTDOWN_TIMEOUT_MS is abandoned uncommitted and completed once by another consumer", async () => {
  const child = worker("a", { HANDLER_SLEEP_MS: "5000", SHUTDOWN_TIMEOUT_MS: "500" });
  await child.port();
  const eventId = await insertJob(ctx);
  await child.waitForLine(new RegExp(`^STARTED ${eventId}$`));

  child.kill("SIGTERM");
  // Well before the handler's 5 s are up: the process does not wait for it.
  expect(await child.waitForExit(3_000)).toBe(0);
  expect(await readEffects(ctx, eventId)).toEqual([]);
  expect(await pendingCount(ctx)).toBe(1);
  expect(await ctx.redis.exists(keys.consumerName(ctx.prefix, "a"))).toBe(0);

  const next = worker("b", { HANDLER_SLEEP_MS: "0" });
  await waitFor("the effect", async () => (await readEffects(ctx, eventId)).length > 0);
  await waitFor("nothing pending", async () => (await pendingCount(ctx)) === 0);
  expect(next.stdout).toContain(`STARTED ${eventId}`);
  expect(await readEffects(ctx, eventId)).toEqual([{ handler: "slow", note: "b" }]);
  expect(await deadLetterCount(ctx)).toBe(0);
}, 20_000);
