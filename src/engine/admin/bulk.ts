import { countDeadLetters } from "./dead-letters-read.ts";
import { discardDeadLetters } from "./discard.ts";
import type { AdminDeps, DeadLetterQuery } from "./letters.ts";
import { BULK_LIMIT, retryDeadLetters } from "./redrive.ts";

export type BulkAction = "retry" | "discard";

/**
 * Retries or discards every open dead letter matching `query` (a filter, a search, or a list of
 * ids), each through the one-by-one operation's own guarantees, at most BULK_LIMIT per call. A
 * dry run only counts what a call would touch (for a retry: the letters that carry an event id).
 */
export async function applyToDeadLetters(deps: AdminDeps, action: BulkAction, query: Omit<DeadLetterQuery, "status">, { dryRun = false } = {}): Promise<number> {
  if (dryRun) return Math.min(BULK_LIMIT, await countDeadLetters(deps.sql, query, { retryable: action === "retry" }));
  return action === "retry" ? retryDeadLetters(deps, query) : discardDeadLetters(deps, query);
}
