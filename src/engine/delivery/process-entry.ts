import type Redis from "ioredis";
import type { Db, Sql } from "../db.ts";
import { backoffDelay } from "../support/backoff.ts";
import { isUnrecoverable, toError } from "../support/errors.ts";
import type { Logger } from "../support/logger.ts";
import { isConnectionLost } from "../support/unavailable.ts";
import type { Waker } from "../outbox/write-event.ts";
import { moveToDeadLetter, type DeadLetterReason } from "../dead-letters/record.ts";
import { decodeEntry, type StreamEvent } from "../redis/entry.ts";
import type { HandlerOptions, Subscription } from "./subscribe.ts";
import { waitForRateLimit } from "./rate-limit.ts";
import { countFailure, CRASH_ALLOWANCE, forgetFailures } from "./failures.ts";
import type { Outcome, OutcomeReport } from "./outcome.ts";
import { checkPayload, latencyOf, runHandler } from "./run-handler.ts";
import { runOnce } from "./run-once.ts";

export interface EntryDeps {
  db: Db;
  /** Records dead letters in PostgreSQL (`dead_letters`) before their Redis copy. */
  sql: Sql;
  redis: Redis;
  prefix: string;
  stream: string;
  log: Logger;
  relay?: Waker;
  signal?: AbortSignal;
  onOutcome?: (report: OutcomeReport) => void;
  idempotencyTtlMs: number;
  /** Leaves the entry pending and makes it due for redelivery after `delayMs` (with `deliveries`: not counted). */
  scheduleRetry(entryId: string, delayMs: number, deliveries?: number): Promise<void>;
  /** Consecutive deliveries that failed before reaching the handler, shared by the subscription. */
  outage: { failures: number };
  /** The group's failure-count hash (keys.failures): an attempt is a handler failure, not a delivery. */
  failures: string;
}

/**
 * Runs one delivery of one entry through the handler's middleware: decode, target filter,
 * attempt limit, schema, rate limit, exactly-once transaction, ack after commit. A failure leaves
 * the entry pending for a later delivery, or dead-letters it when retrying cannot help.
 */
export async function processEntry(
  deps: EntryDeps, sub: Subscription & { options: HandlerOptions }, entryId: string, fields: string[], attempt: number, deliveries = attempt,
): Promise<Outcome> {
  const { redis, stream, log } = deps;
  const report = (outcome: Outcome, extra: Partial<OutcomeReport> = {}) => {
    deps.onOutcome?.({ handler: sub.handler, eventType: sub.eventType, outcome, attempt, ...extra });
    return outcome;
  };
  const decoded = decodeEntry(fields);
  const rawPayload = fieldValue(fields, "payload") ?? "";
  const deadLetter = async (reason: DeadLetterReason, error: string, event?: StreamEvent) => {
    const moved = await moveToDeadLetter({ sql: deps.sql, redis, prefix: deps.prefix }, sub.handler, {
      eventId: event?.id ?? "", eventType: event?.type ?? sub.eventType, handler: sub.handler, stream, entryId,
      reason, error, attempts: attempt, failedAt: new Date().toISOString(), payload: rawPayload,
      aggregateId: event?.aggregateId ?? null, tenantId: event?.tenantId ?? null, occurredAt: event?.occurredAt ?? "",
    });
    log.warn("entry dead-lettered", { handler: sub.handler, eventId: event?.id, entryId, deadLetterId: moved.id, reason, error, attempts: attempt });
    if (attempt > 1) await forgetFailures(redis, deps.failures, [entryId]).catch(() => {});
    return report("dead_lettered", { reason });
  };

  if ("error" in decoded) return deadLetter("malformed_entry", decoded.error);
  const event = decoded.event;
  if (event.target && event.target !== sub.handler) {
    await redis.xack(stream, sub.handler, entryId);
    return report("skipped");
  }
  if (attempt > sub.options.maxAttempts) {
    return deadLetter("max_attempts", `no attempt left: attempt ${attempt} of ${sub.options.maxAttempts} (the last one's process stopped before recording it)`, event);
  }
  if (deliveries > sub.options.maxAttempts + CRASH_ALLOWANCE) {
    return deadLetter("max_attempts", `delivered ${deliveries} times and never finished: each run's process stopped (does the handler crash it?)`, event);
  }
  const checked = checkPayload(sub, event);
  if ("error" in checked) return deadLetter("schema_invalid", checked.error, event);

  let reachedHandler = false;
  let applied: boolean;
  try {
    if (sub.options.rateLimit) await waitForRateLimit(redis, deps.prefix, sub.handler, sub.options.rateLimit, deps.signal);
    applied = await runOnce(deps.db, deps.relay, sub.handler, event.id, (tx) => {
      reachedHandler = true;
      return runHandler(deps, sub, checked.event, tx, attempt);
    });
    if (deps.outage.failures > 0) log.info("handlers run again after an outage", { handler: sub.handler });
    deps.outage.failures = 0;
  } catch (thrown) {
    const err = toError(thrown);
    // PostgreSQL (or Redis) dying while the handler ran is an outage too, not the handler failing.
    if (!reachedHandler || isConnectionLost(err)) {
      // The engine could not run the handler (PostgreSQL or Redis unavailable): not the handler's
      // failure, so it must not use up an attempt nor dead-letter the event during an outage.
      const delay = backoffDelay(++deps.outage.failures, sub.options.backoff);
      // One warning per outage, not one per entry and retry.
      const line = deps.outage.failures === 1 ? log.warn : log.debug;
      line("could not run the handler; retrying without counting the attempt", { handler: sub.handler, eventId: event.id, entryId, retryInMs: delay, err });
      await deps.scheduleRetry(entryId, delay, deliveries - 1);
      return report("retry");
    }
    if (isUnrecoverable(err)) return deadLetter("unrecoverable", err.message, event);
    if (attempt >= sub.options.maxAttempts) return deadLetter("max_attempts", err.message, event);
    // Counted before the retry is scheduled: a crash in between costs a redelivery, not the count.
    await countFailure(redis, deps.failures, entryId);
    const delay = backoffDelay(attempt, sub.options.backoff);
    log.warn("handler failed; will retry", { handler: sub.handler, eventId: event.id, entryId, attempt, retryInMs: delay, err });
    await deps.scheduleRetry(entryId, delay);
    return report("retry");
  }
  // MUST ack only after the commit. A failed ack (or a crash before it) redelivers the entry, and
  // runOnce then skips the effect and the ack is tried again; it is never a handler failure.
  await redis.xack(stream, sub.handler, entryId).catch((thrown) =>
    log.warn("ack failed after commit; the entry will be redelivered and acked as a duplicate", { entryId, err: toError(thrown) }),
  );
  if (attempt > 1) await forgetFailures(redis, deps.failures, [entryId]).catch(() => {});
  return report(applied ? "processed" : "duplicate", latencyOf(event));
}

export function fieldValue(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}
