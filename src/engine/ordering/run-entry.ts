import { sql as drizzleSql } from "drizzle-orm";
import type { Q, Sql } from "../db.ts";
import { toError } from "../support/errors.ts";
import { sleep } from "../support/sleep.ts";
import type { Delivery } from "../delivery/classify.ts";
import { forgetFailures } from "../delivery/failures.ts";
import type { Outcome, OutcomeReport } from "../delivery/outcome.ts";
import { deliver, type PipelineDeps } from "../delivery/pipeline.ts";
import type { ResolvedSubscription } from "../delivery/subscribe.ts";
import type { Keyed, Layout } from "../partitions/layout.ts";
import { decodeEntry, type StreamEvent } from "../redis/entry.ts";
import { checkFence, checkFenceSql, FencedError, type PartitionRef } from "./fence.ts";
import { readTurn } from "../outbox/ordered-backlog.ts";
import { advanceKey, decideParked, parkKey, type KeyRef, type Redriver } from "./parking.ts";

/** How often an entry whose key has an earlier event still owed looks again. */
const BEHIND_WAIT_MS = 200;

/** What one lane's entries run with. */
export interface EntryContext {
  sql: Sql;
  sub: ResolvedSubscription;
  layout: Layout;
  /** The pipeline's dependencies for this partition; scheduleRetry, beforeRun and onOutcome are set per entry. */
  pipeline: Omit<PipelineDeps, "scheduleRetry" | "beforeRun">;
  fence: PartitionRef;
  /** The generation this consumer owns the partition under. */
  generation: number;
  redriver: Redriver;
}

export type EntryResult =
  | { kind: "done" }
  /** Run it again after `delayMs` (the key's later entries wait); `deliveries` as the pipeline set it back. */
  | { kind: "retry"; delayMs: number; deliveries?: number }
  /** The partition has another owner now: nothing committed, the lane stops. */
  | { kind: "fenced" };

/** The event's partition key as the layout reads it (null: an event with no key has no order to keep). */
export function keyOfEvent(layout: Layout, event: StreamEvent): string | null {
  const keyed: Keyed = { id: event.id, type: event.type, aggregateId: event.aggregateId, tenantId: event.tenantId, payload: () => event.payload };
  return layout.keyOf(keyed);
}

/**
 * Runs one entry of an ordered handler's partition, the key's only entry running: checks its key
 * (a parked key's entry is recorded behind it and acked, or, released, let through in its turn),
 * runs it through the one delivery pipeline under the partition's fence, and afterwards parks the
 * key when the entry was dead-lettered, or moves a released key on. A failure with attempts left
 * is handed back as `retry`: the same entry runs again before any later one of its key.
 */
export async function runEntry(c: EntryContext, delivery: Delivery): Promise<EntryResult> {
  const { sub } = c;
  const decoded = decodeEntry(delivery.fields);
  const event = "event" in decoded && !(decoded.event.target && decoded.event.target !== sub.handler) ? decoded.event : null;
  const key = event ? keyOfEvent(c.layout, event) : null;
  const ref: KeyRef | null = key === null ? null : { handler: sub.handler, eventType: sub.eventType, key };
  let released = false;
  // One read for both checks below: is the key parked for this type, and is the event its turn.
  const turn = ref && event ? await readTurn(c.sql, ref, event.id) : null;
  try {
    if (ref && event && turn?.parked) {
      const verdict = await c.sql.begin(async (tx) => {
        await checkFenceSql(tx, c.fence, c.generation);
        return decideParked(tx, ref, event.id, c.redriver);
      });
      if (verdict === "skip") {
        await skip(c, delivery);
        return { kind: "done" };
      }
      released = true;
    }
  } catch (thrown) {
    if (thrown instanceof FencedError) return { kind: "fenced" };
    throw thrown;
  }

  // Across the handler's ordered types: the key's earlier events (another type's, in flight on
  // another lane or machine, or parked) run first. Waiting holds no slot and uses no attempt.
  // MUST hold for a released key's re-driven event too: the parking only orders the key's events
  // of this type, and one of another type written between them waits behind its dead letter.
  // The read may be older than the parking decision: it can only have missed an earlier event
  // settling (a wait of one more look), never one appearing.
  if (turn && turn.state.kind !== "head") {
    return { kind: "retry", delayMs: BEHIND_WAIT_MS, deliveries: delivery.deliveries - 1 };
  }

  let outcome: Outcome | undefined;
  let retry: { delayMs: number; deliveries?: number } | undefined;
  let fenced = false;
  const deps: PipelineDeps = {
    ...c.pipeline,
    beforeRun: async (tx) => {
      try {
        await checkFence(tx, c.fence, c.generation);
      } catch (thrown) {
        if (thrown instanceof FencedError) fenced = true;
        throw thrown;
      }
      // Its turn in a released key: done exactly when the run commits.
      if (released && event) await tx.execute(drizzleSql`delete from parked_events where handler = ${sub.handler} and event_id = ${event.id}::uuid`);
    },
    scheduleRetry: async (_id, delayMs, deliveries) => {
      retry = { delayMs, deliveries };
    },
    onOutcome: (report: OutcomeReport) => {
      outcome = report.outcome;
      c.pipeline.onOutcome?.(report);
    },
  };
  await deliver(deps, sub, [delivery]);
  if (fenced) return { kind: "fenced" };
  if (retry) return { kind: "retry", ...retry };
  if (!ref || !event) return { kind: "done" };
  if (outcome !== "dead_lettered" && !released) return { kind: "done" };
  // MUST happen before the key's next entry runs: retried until done (a crash instead is repaired
  // when the partition is next taken, repairPartition).
  return settleKey(c, async (tx) => {
    if (outcome !== "dead_lettered") return void (await advanceKey(tx, ref, c.redriver));
    const deadLetterId = await parkKey(tx, ref, event.id);
    if (deadLetterId) c.pipeline.log.warn("key parked behind its dead letter; its later events wait", { key, eventId: event.id, deadLetterId });
  });
}

async function settleKey(c: EntryContext, step: (tx: Q) => Promise<void>): Promise<EntryResult> {
  for (let failures = 0; ; failures++) {
    try {
      await c.sql.begin(async (tx) => {
        await checkFenceSql(tx, c.fence, c.generation);
        await step(tx);
      });
      return { kind: "done" };
    } catch (thrown) {
      if (thrown instanceof FencedError) return { kind: "fenced" };
      if (c.pipeline.signal?.aborted) return { kind: "done" };
      if (failures === 0) c.pipeline.log.warn("could not update the key's parking; retrying", { err: toError(thrown) });
      await sleep(Math.min(100 * 2 ** failures, 5_000), c.pipeline.signal);
    }
  }
}

/** Acks an entry that is not to run (parked, or done before), after its decision committed. */
async function skip(c: EntryContext, delivery: Delivery): Promise<void> {
  const p = c.pipeline;
  await p.redis.xack(p.stream, c.sub.handler, delivery.id);
  if (delivery.attempt > 1) await forgetFailures(p.redis, p.failures, [delivery.id]).catch(() => {});
  p.onOutcome?.({ handler: c.sub.handler, eventType: c.sub.eventType, outcome: "skipped", attempt: delivery.attempt });
}
