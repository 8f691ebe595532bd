import { sql } from "drizzle-orm";
import type { HandlerContext } from "../../src/engine/delivery/subscribe.ts";
import { fieldsOf as engineFieldsOf } from "../../src/engine/redis/fields.ts";
import { keys } from "../../src/engine/redis/keys.ts";
import type { TestContext } from "./context.ts";

/** What a test handler does: one row in the test schema's `effects` table, inside the engine's transaction. */
export function recordEffect(c: HandlerContext, eventId: string, note = "") {
  return c.tx.execute(sql`insert into effects (handler, event_id, note) values (${c.handler}, ${eventId}, ${note})`);
}

/** A stream entry's field list ([k1, v1, k2, v2, ...]) as an object. */
export const fieldsOf = (flat: string[]) => engineFieldsOf(flat) as Record<string, string>;

/** Every record in the test's dead-letter stream, oldest first. */
export async function readDeadLetters(ctx: TestContext): Promise<Record<string, string>[]> {
  return (await ctx.redis.xrange(keys.deadLetters(ctx.prefix), "-", "+")).map(([, f]) => fieldsOf(f));
}

/** Entries of `eventType` delivered to `group` and not acked yet. */
export async function pendingOf(ctx: TestContext, eventType: string, group: string): Promise<number> {
  return Number(((await ctx.redis.xpending(keys.stream(ctx.prefix, eventType), group)) as [number])[0]);
}
