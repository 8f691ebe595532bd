import { sql } from "drizzle-orm";
import { z } from "zod";
import { subscribe, type HandlerContext } from "../../src/engine/delivery/subscribe.ts";
import { writeEvent } from "../../src/engine/index.ts";
import type { TestContext } from "./context.ts";

/** What the ordered test handler records per run: one row per (aggregate, step) it ran, in run order (`n`), with the event's type. */
export async function createSequenceTable(q: TestContext["sql"]): Promise<void> {
  await q`create table if not exists sequence (n bigserial primary key, aggregate_id text not null, step int not null, event_id uuid not null, consumer text, event_type text)`;
}

export const stepSchema = z.object({ step: z.number(), poison: z.boolean().optional() });

export interface SequenceOptions {
  handler?: string;
  eventType?: string;
  /** Fails (a plain error, retried) for these `aggregate:step` pairs while in the set. */
  failing?: Set<string>;
  /** Fails once for each of these pairs (taken out of the set as it fails). */
  failOnce?: Set<string>;
  /** Extra work per run, so runs overlap. */
  sleepMs?: () => number;
  consumer?: string;
  concurrency?: number;
  maxAttempts?: number;
}

/** An ordered handler that records each run in `sequence`; it fails on purpose for pairs in `failing`. */
export function sequenceHandler(o: SequenceOptions = {}) {
  return subscribe({
    handler: o.handler ?? "seq",
    eventType: o.eventType ?? "step.done",
    schema: stepSchema,
    ordered: true,
    options: { concurrency: o.concurrency ?? 4, maxAttempts: o.maxAttempts ?? 2, backoff: { initialMs: 20, multiplier: 2, maxMs: 100 } },
    handle: async (event, ctx: HandlerContext) => {
      const sleepMs = o.sleepMs?.() ?? 0;
      if (sleepMs > 0) await Bun.sleep(sleepMs);
      const pair = `${event.aggregateId}:${event.payload.step}`;
      if (o.failing?.has(pair) || o.failOnce?.delete(pair)) throw new Error(`step ${event.payload.step} of ${event.aggregateId} fails`);
      await ctx.tx.execute(sql`insert into sequence (aggregate_id, step, event_id, consumer, event_type)
        values (${event.aggregateId}, ${event.payload.step}, ${event.id}::uuid, ${o.consumer ?? null}, ${event.type})`);
    },
  });
}

/** Writes `steps` events for each aggregate, one transaction each, steps interleaved across aggregates. */
export async function writeSteps(ctx: TestContext, aggregates: string[], from: number, to: number, eventType = "step.done"): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (let step = from; step <= to; step++) {
    for (const a of aggregates) {
      const written = await ctx.db.transaction((tx) => writeEvent(tx, { eventType, aggregateId: a, payload: { step } }));
      ids.set(`${a}:${step}`, written.id);
    }
  }
  return ids;
}

/** Per aggregate, the steps in the order they ran. */
export async function runOrder(q: TestContext["sql"]): Promise<Map<string, number[]>> {
  const rows = await q<{ aggregate_id: string; step: number }[]>`select aggregate_id, step from sequence order by n`;
  const out = new Map<string, number[]>();
  for (const r of rows) out.set(r.aggregate_id, [...(out.get(r.aggregate_id) ?? []), r.step]);
  return out;
}

export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

export async function countRuns(q: TestContext["sql"]): Promise<number> {
  return Number((await q`select count(*)::int as n from sequence`)[0]!.n);
}
