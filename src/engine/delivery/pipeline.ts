import type Redis from "ioredis";
import type { Sql } from "../db.ts";
import { removeCopyEntries } from "../dead-letters/copies.ts";
import { moveToDeadLetter } from "../dead-letters/move.ts";
import { newDeadLetter, type DeadLetterReason } from "../dead-letters/row.ts";
import type { StreamEvent } from "../redis/entry.ts";
import { toError } from "../support/errors.ts";
import { classify, type Classified, type Delivery } from "./classify.ts";
import { decideFailure } from "./decide-failure.ts";
import { countFailure, forgetFailures } from "./failures.ts";
import type { Outcome, OutcomeReport } from "./outcome.ts";
import { RunFailure, runBatch, type RunDeps } from "./run-batch.ts";
import type { ResolvedSubscription } from "./subscribe.ts";
import { fieldOf } from "../redis/fields.ts";

export interface PipelineDeps extends RunDeps {
  /** Records dead letters in PostgreSQL (`dead_letters`) before their Redis copy. */
  sql: Sql;
  redis: Redis;
  stream: string;
  onOutcome?: (report: OutcomeReport) => void;
  /** Leaves the entry pending and makes it due for redelivery after `delayMs` (with `deliveries`: its delivery count set back to that). */
  scheduleRetry(entryId: string, delayMs: number, deliveries?: number): Promise<void>;
  /** Consecutive runs that failed because PostgreSQL or Redis was unavailable, shared by the subscription. */
  outage: { failures: number };
  /** The group's failure-count hash (keys.failures): an attempt is a handler failure, not a delivery. */
  failures: string;
}

type RunItem = Extract<Classified, { kind: "run" }>;

/**
 * The one delivery pipeline: every entry, new or redelivered, alone or in a batch, goes through
 * it. classify (run, skip, or dead-letter) -> run (one transaction; a single entry is a batch of
 * one) -> settle (ack after commit, forget the failure count, report). A batch that fails is run
 * again one entry per transaction, so one bad event changes nothing for the others; a single
 * entry that fails goes to decideFailure: retry after its backoff, or dead-letter.
 */
export async function deliver(deps: PipelineDeps, sub: ResolvedSubscription, deliveries: Delivery[]): Promise<void> {
  const classified = deliveries.map((d) => classify(sub, d));
  for (const c of classified) if (c.kind === "dead") await deadLetter(deps, sub, c.delivery, c.event, c.reason, c.error);
  const skipped = classified.filter((c) => c.kind === "skip");
  const runs = classified.filter((c): c is RunItem => c.kind === "run");
  const { lockKey } = sub;
  // Stable: events sharing a key keep their stream order.
  if (lockKey) runs.sort((a, b) => compare(lockKey(a.event), lockKey(b.event)));
  if (runs.length === 0) return settle(deps, sub, skipped.map((c) => ({ ...c, outcome: "skipped" as const })));
  try {
    const { fresh, resolvedCopies } = await runBatch(deps, sub, runs.map((r) => ({ event: r.event, attempt: r.delivery.attempt, delivery: r.delivery })));
    if (resolvedCopies.length) await removeCopyEntries(deps.redis, deps.prefix, resolvedCopies).catch(() => {});
    if (deps.outage.failures > 0) deps.log.info("handlers run again after an outage", { handler: sub.handler });
    deps.outage.failures = 0;
    const reported = new Set<string>();
    const outcomes = runs.map((r) => {
      const outcome: Outcome = fresh.has(r.event.id) && !reported.has(r.event.id) ? "processed" : "duplicate";
      reported.add(r.event.id);
      return { ...r, outcome };
    });
    await settle(deps, sub, [...skipped.map((c) => ({ ...c, outcome: "skipped" as const })), ...outcomes]);
  } catch (thrown) {
    await settle(deps, sub, skipped.map((c) => ({ ...c, outcome: "skipped" as const })));
    const failure = thrown instanceof RunFailure ? thrown : new RunFailure(toError(thrown), false);
    if (runs.length === 1 || !failure.reachedHandler) {
      // Before the handler (PostgreSQL or Redis unavailable) the failure is the same for every entry.
      for (const r of runs) await fail(deps, sub, r, failure);
      return;
    }
    // A batch rolls back as a whole; only runs of their own can tell which event failed.
    deps.log.debug("batch failed; running its entries one by one", { entries: runs.length, err: failure.error });
    for (const r of runs) await deliver(deps, sub, [r.delivery]);
  }
}

/**
 * MUST run only after the commit: acks the entries (one XACK), forgets the failure counts of
 * those that had failed before, and reports each outcome. A failed ack redelivers the entries,
 * which the processed_events records absorb; it is never a handler failure.
 */
async function settle(deps: PipelineDeps, sub: ResolvedSubscription, done: { delivery: Delivery; event: StreamEvent; outcome: Outcome }[]): Promise<void> {
  if (done.length === 0) return;
  await deps.redis.xack(deps.stream, sub.handler, ...done.map((d) => d.delivery.id)).catch((thrown) =>
    deps.log.warn("ack failed after commit; the entries will be redelivered and acked as duplicates", { entries: done.length, err: toError(thrown) }),
  );
  const retried = done.filter((d) => d.delivery.attempt > 1).map((d) => d.delivery.id);
  await forgetFailures(deps.redis, deps.failures, retried).catch(() => {});
  for (const d of done) {
    report(deps, sub, d.outcome, d.delivery.attempt, d.outcome === "processed" ? latencyOf(d.event) : {});
  }
}

/** A single entry's run failed: retry it after its backoff, or dead-letter it, as decideFailure says. */
async function fail(deps: PipelineDeps, sub: ResolvedSubscription, run: RunItem, failure: RunFailure): Promise<void> {
  const { delivery, event } = run;
  const decision = decideFailure({
    error: failure.error, reachedHandler: failure.reachedHandler, attempt: delivery.attempt,
    outagesBefore: deps.outage.failures, options: sub.options,
  });
  if (decision.action === "dead_letter") return deadLetter(deps, sub, delivery, event, decision.reason, decision.error);
  const fields = { handler: sub.handler, eventId: event.id, entryId: delivery.id, attempt: delivery.attempt, retryInMs: decision.delayMs, err: failure.error };
  if (decision.why === "outage") {
    // One warning per outage, not one per entry and retry.
    (++deps.outage.failures === 1 ? deps.log.warn : deps.log.debug)("could not run the handler; retrying without counting the attempt", fields);
    await deps.scheduleRetry(delivery.id, decision.delayMs, delivery.deliveries - 1);
  } else if (decision.why === "conflict") {
    deps.log.info("handler transaction lost a deadlock or serialization race; retrying without counting the attempt", fields);
    await deps.scheduleRetry(delivery.id, decision.delayMs);
  } else {
    // Counted before the retry is scheduled: a crash in between costs a redelivery, not the count.
    await countFailure(deps.redis, deps.failures, delivery.id);
    deps.log.warn("handler failed; will retry", fields);
    await deps.scheduleRetry(delivery.id, decision.delayMs);
  }
  report(deps, sub, "retry", delivery.attempt);
}

async function deadLetter(
  deps: PipelineDeps, sub: ResolvedSubscription, delivery: Delivery, event: StreamEvent | null, reason: DeadLetterReason, error: string,
): Promise<void> {
  const occurred = event ? Date.parse(event.occurredAt) : NaN;
  const moved = await moveToDeadLetter(deps, sub.handler, newDeadLetter({
    event_id: event?.id ?? null, event_type: event?.type ?? sub.eventType, handler: sub.handler, stream: deps.stream, entry_id: delivery.id,
    reason, error, attempts: delivery.attempt, payload: fieldOf(delivery.fields, "payload") ?? "",
    aggregate_id: event?.aggregateId ?? null, tenant_id: event?.tenantId ?? null,
    // A hand-written entry's occurredAt may be anything; it must not make the record fail.
    occurred_at: Number.isFinite(occurred) ? occurred : null,
  }));
  deps.log.warn("entry dead-lettered", { handler: sub.handler, eventId: event?.id, entryId: delivery.id, deadLetterId: moved.id, reason, error, attempts: delivery.attempt });
  if (delivery.attempt > 1) await forgetFailures(deps.redis, deps.failures, [delivery.id]).catch(() => {});
  report(deps, sub, "dead_lettered", delivery.attempt, { reason });
}

function report(deps: PipelineDeps, sub: ResolvedSubscription, outcome: Outcome, attempt: number, extra: Partial<OutcomeReport> = {}): void {
  deps.onOutcome?.({ handler: sub.handler, eventType: sub.eventType, outcome, attempt, ...extra });
}

/** The event's age when its handler finished, for the end-to-end latency metric. */
function latencyOf(event: StreamEvent): { latencyMs?: number } {
  const occurred = Date.parse(event.occurredAt);
  return Number.isFinite(occurred) ? { latencyMs: Date.now() - occurred } : {};
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
