import type { DeadLetterReason } from "../dead-letters/row.ts";
import { backoffDelay, type BackoffOptions } from "../support/backoff.ts";
import { isUnrecoverable, someCause } from "../support/errors.ts";
import { isConnectionLost } from "../support/unavailable.ts";

export interface FailedRun {
  error: Error;
  /** False when the run failed before its handler started (BEGIN or the processed_events record). */
  reachedHandler: boolean;
  /** 1 plus the failures so far. */
  attempt: number;
  /** Consecutive runs of this subscription that failed because PostgreSQL or Redis was unavailable, before this one. */
  outagesBefore: number;
  options: { maxAttempts: number; backoff: BackoffOptions };
}

export type FailureDecision =
  | {
      action: "retry";
      delayMs: number;
      /**
       * `failure`: the handler failed, and this uses up an attempt. `outage`: PostgreSQL or Redis
       * was unavailable, which is not the event's fault: no attempt is used and the delivery is
       * not counted either. `conflict`: a deadlock or serialization failure, retried at once
       * without using an attempt (the delivery still counts, which bounds a handler that always
       * conflicts).
       */
      why: "failure" | "outage" | "conflict";
    }
  | { action: "dead_letter"; reason: DeadLetterReason; error: string };

// SQLSTATE 40P01 deadlock_detected, 40001 serialization_failure: the transaction lost a race.
const CONFLICT = new Set(["40P01", "40001"]);

/**
 * The one place that decides what happens to a run that failed: retry (after how long, and whether
 * it used up an attempt) or dead-letter. Pure: same input, same decision (bar the jitter, which
 * `random` controls).
 */
export function decideFailure(run: FailedRun, random: () => number = Math.random): FailureDecision {
  const { error, options } = run;
  if (!run.reachedHandler || isConnectionLost(error)) {
    return { action: "retry", why: "outage", delayMs: backoffDelay(run.outagesBefore + 1, options.backoff, random) };
  }
  if (isConflict(error)) return { action: "retry", why: "conflict", delayMs: backoffDelay(1, { ...options.backoff, maxMs: Math.min(options.backoff.maxMs, options.backoff.initialMs) }, random) };
  if (isUnrecoverable(error)) return { action: "dead_letter", reason: "unrecoverable", error: error.message };
  if (run.attempt >= options.maxAttempts) return { action: "dead_letter", reason: "max_attempts", error: error.message };
  return { action: "retry", why: "failure", delayMs: backoffDelay(run.attempt, options.backoff, random) };
}

/** A deadlock or serialization failure, anywhere in the error's cause chain (drizzle wraps the driver's error). */
export function isConflict(error: unknown): boolean {
  return someCause(error, (e) => CONFLICT.has(String((e as { code?: unknown }).code)));
}
