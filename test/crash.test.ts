// A consumer process dies with SIGKILL in the middle of a handler: its transaction never commits,
// its entry stays pending, and the entry is completed exactly once by whoever picks it up.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { killProcesses, startProcess } from "./support/process.ts";
import { deadLetterCount, insertJob, pendingCount, readEffects } from "./support/worker.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(async () => {
  await killProcesses();
  await ctx.cleanup();
});

const worker = (name: string, sleepMs: number, claimIdleMs = 1500) =>
  startProcess(ctx, { env: { CONSUMER_NAME: name, HANDLER_SLEEP_MS: String(sleepMs), CLAIM_IDLE_MS: String(claimIdleMs) } });

/** Starts a worker that will hang in the handler, hands it one job and kills it mid-run. */
async function killMidHandler(name: string, claimIdleMs?: number): Promise<string> {
  const doomed = worker(name, 20_000, claimIdleMs);
  await doomed.port();
  const eventId = await insertJob(ctx);
  await doomed.waitForLine(new RegExp(`^STARTED ${eventId}$`));
  doomed.kill("SIGKILL");
  expect(await doomed.waitForExit()).toBeNull();
  expect(await readEffects(ctx, eventId)).toEqual([]);
  expect(await pendingCount(ctx)).toBe(1);
  return eventId;
}

async function expectCompletedOnceBy(eventId: string, name: string, withinMs = 15_000): Promise<void> {
  await waitFor("the effect", async () => (await readEffects(ctx, eventId)).length > 0, withinMs);
  await waitFor("nothing pending", async () => (await pendingCount(ctx)) === 0);
  expect(await readEffects(ctx, eventId)).toEqual([{ handler: "slow", note: name }]);
  expect(await deadLetterCount(ctx)).toBe(0);
}

test("an entry whose consumer was SIGKILLed mid-handler is completed once by another process", async () => {
  const eventId = await killMidHandler("a");

  const rescuer = worker("b", 0);
  await expectCompletedOnceBy(eventId, "b");
  expect(rescuer.stdout).toContain(`STARTED ${eventId}`);
}, 20_000);

test("a process restarted under the same consumer name picks its own pending entry back up first", async () => {
  // The rival could only claim the entry after 30 s of idle time; the restarted owner takes it at once.
  const eventId = await killMidHandler("a", 30_000);
  const rival = worker("b", 0, 30_000);
  await rival.port();

  // It waits for its previous life's claim on the name to expire (up to 10 s), then takes its
  // entry back; the bounds leave room for slow process starts on a busy machine.
  const restarted = worker("a", 0, 30_000);
  await expectCompletedOnceBy(eventId, "a", 25_000);
  expect(restarted.stdout).toContain(`STARTED ${eventId}`);
  expect(rival.stdout).not.toContain(`STARTED ${eventId}`);
}, 60_000);
