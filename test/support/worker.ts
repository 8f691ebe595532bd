import { keys } from "../../src/engine/redis/keys.ts";
import { insertOutboxRow, type TestContext } from "./context.ts";

/** What test/fixtures/worker.ts subscribes to. */
export const WORKER = { handler: "slow", eventType: "job.run" } as const;

/** Writes a job.run event to the outbox, as a producing service would; returns its event id. */
export function insertJob(ctx: TestContext, n = 1): Promise<string> {
  return insertOutboxRow(ctx.sql, WORKER.eventType, { n });
}

/** The worker's recorded effects for one event, oldest first. */
export function readEffects(ctx: TestContext, eventId: string): Promise<{ handler: string; note: string }[]> {
  return ctx.sql<{ handler: string; note: string }[]>`select handler, note from effects where event_id = ${eventId} order by at`;
}

/** Entries delivered to the worker's group and not acked yet, by any consumer. */
export async function pendingCount(ctx: TestContext): Promise<number> {
  const [count] = (await ctx.redis.xpending(keys.stream(ctx.prefix, WORKER.eventType), WORKER.handler)) as [number, ...unknown[]];
  return count;
}

export function deadLetterCount(ctx: TestContext): Promise<number> {
  return ctx.redis.xlen(keys.deadLetters(ctx.prefix));
}
