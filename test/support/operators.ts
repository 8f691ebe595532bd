import { z } from "zod";
import { subscribe, UnrecoverableError, type Subscription } from "../../src/engine/index.ts";
import { waitFor, type TestContext } from "./context.ts";
import { recordEffect } from "./effects.ts";

/** The payload the operator tests write: `bad` is dead-lettered by `picky`, `flaky` keeps `flaky` retrying. */
export const userPayload = z.object({ userId: z.string(), email: z.string().optional(), bad: z.boolean().optional(), flaky: z.boolean().optional() });

/**
 * Three handlers of user.created: `steady` always works, `picky` dead-letters `bad` events at once
 * (unless their user is in `accepted`: a fix deployed later),
 * `flaky` fails `flaky` events and retries them only after a minute (so they stay retrying).
 */
export function operatorHandlers({ accepted = new Set<string>() }: { accepted?: Set<string> } = {}): Subscription[] {
  return [
    subscribe({ handler: "steady", eventType: "user.created", schema: userPayload, handle: (e, c) => recordEffect(c, e.id).then(() => {}) }),
    subscribe({
      handler: "picky", eventType: "user.created", schema: userPayload,
      async handle(e, c) {
        if (e.payload.bad && !accepted.has(e.payload.userId)) throw new UnrecoverableError(`picky refuses ${e.payload.userId}`);
        await recordEffect(c, e.id);
      },
    }),
    subscribe({
      handler: "flaky", eventType: "user.created", schema: userPayload,
      options: { maxAttempts: 50, backoff: { initialMs: 60_000, multiplier: 1, maxMs: 60_000 } },
      async handle(e, c) {
        if (e.payload.flaky) throw new Error(`flaky cannot reach ${e.payload.userId}`);
        await recordEffect(c, e.id);
      },
    }),
  ] as Subscription[];
}

/** An outbox row as another service writes it, with aggregate and tenant; returns the event id. */
export async function insertUserEvent(ctx: TestContext, payload: z.infer<typeof userPayload>, meta: { aggregateId?: string; tenantId?: string } = {}): Promise<string> {
  const [row] = await ctx.sql<{ id: string }[]>`
    insert into outbox (event_type, aggregate_id, tenant_id, payload)
    values ('user.created', ${meta.aggregateId ?? null}, ${meta.tenantId ?? null}, ${JSON.stringify(payload)}::jsonb) returning id`;
  return row!.id;
}

/** Waits until `n` dead letters are recorded in PostgreSQL with their Redis copy. */
export function waitForDeadLetters(ctx: TestContext, n: number) {
  return waitFor(`${n} dead letters`, async () => Number((await ctx.sql`select count(*)::int as n from dead_letters where dlq_entry_id is not null`)[0]!.n) >= n);
}

export const ADMIN_TOKEN = "console-test-token-0123456789";
export const bearer = { authorization: `Bearer ${ADMIN_TOKEN}` };
