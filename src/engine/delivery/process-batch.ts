import { toError } from "../support/errors.ts";
import { decodeEntry, type StreamEvent } from "../redis/entry.ts";
import type { HandlerOptions, Subscription } from "./subscribe.ts";
import type { EntryDeps } from "./process-entry.ts";
import type { Outcome } from "./outcome.ts";
import { CRASH_ALLOWANCE, forgetFailures } from "./failures.ts";
import { checkPayload, latencyOf, runHandler } from "./run-handler.ts";
import { runBatchOnce } from "./run-once.ts";

export interface BatchEntry {
  id: string;
  fields: string[];
  /** 1 plus the handler's failures so far (an attempt is a failure, not a delivery). */
  attempt: number;
  /** Redis' delivery count, crashes included: past maxAttempts + CRASH_ALLOWANCE it is dead-lettered. */
  deliveries: number;
}

/**
 * Runs a delivery of several entries as one transaction: their processed_events records
 * and the handler's effects for each (run one after another, never interleaved) commit together,
 * then one XACK acks them all. This is the throughput path; it changes nothing about what happens
 * to one event. Returns the entries the caller MUST run one by one through processEntry: those
 * the batch does not take (malformed, targeted at another handler, failing the schema:
 * processEntry skips or dead-letters them), those past their last attempt, and every entry of a batch that failed, since a
 * failed batch rolled back as a whole and only a run of its own can tell which event failed.
 */
export async function processBatch(deps: EntryDeps, sub: Subscription & { options: HandlerOptions }, entries: BatchEntry[]): Promise<BatchEntry[]> {
  const single: BatchEntry[] = [];
  const batch: { entry: BatchEntry; event: StreamEvent }[] = [];
  for (const entry of entries) {
    const decoded = decodeEntry(entry.fields);
    if ("error" in decoded || (decoded.event.target && decoded.event.target !== sub.handler) || entry.attempt > sub.options.maxAttempts || entry.deliveries > sub.options.maxAttempts + CRASH_ALLOWANCE) {
      single.push(entry);
      continue;
    }
    const checked = checkPayload(sub, decoded.event);
    if ("error" in checked) single.push(entry);
    else batch.push({ entry, event: checked.event });
  }
  if (batch.length === 0) return single;
  // Stable: events sharing a key keep their stream order.
  const { lockKey } = sub;
  if (lockKey) batch.sort((a, b) => compare(lockKey(a.event), lockKey(b.event)));

  const ran = new Set<string>();
  try {
    await runBatchOnce(deps.db, deps.relay, sub.handler, batch.map((b) => b.event.id), async (tx, fresh) => {
      for (const { entry, event } of batch) {
        if (!fresh.has(event.id) || ran.has(event.id)) continue;
        ran.add(event.id);
        await runHandler(deps, sub, event, tx, entry.attempt);
      }
    });
  } catch (thrown) {
    deps.log.debug("batch failed; running its entries one by one", { entries: entries.length, err: toError(thrown) });
    return entries;
  }
  deps.outage.failures = 0;
  // MUST ack only after the commit; a failed ack redelivers them, and the records absorb it.
  await deps.redis.xack(deps.stream, sub.handler, ...batch.map((b) => b.entry.id)).catch((thrown) =>
    deps.log.warn("ack failed after commit; the entries will be redelivered and acked as duplicates", { entries: batch.length, err: toError(thrown) }),
  );
  const retried = batch.filter((b) => b.entry.attempt > 1).map((b) => b.entry.id);
  await forgetFailures(deps.redis, deps.failures, retried).catch(() => {});
  const reported = new Set<string>();
  for (const { entry, event } of batch) {
    const outcome: Outcome = ran.has(event.id) && !reported.has(event.id) ? "processed" : "duplicate";
    reported.add(event.id);
    deps.onOutcome?.({ handler: sub.handler, eventType: sub.eventType, outcome, attempt: entry.attempt, ...latencyOf(event) });
  }
  return single;
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
