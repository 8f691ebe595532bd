import type Redis from "ioredis";
import type { Db, Tx } from "../db.ts";
import { commitWithEvents, writeEvent, type EventInput, type Waker } from "../outbox/write-event.ts";
import type { StreamEvent } from "../redis/entry.ts";
import { keys } from "../redis/keys.ts";
import { toError } from "../support/errors.ts";
import { claimIdempotencyKey } from "../support/idempotency.ts";
import type { Logger } from "../support/logger.ts";
import { claimEvents, type Claimed } from "./exactly-once.ts";
import { waitForRateLimit } from "./rate-limit.ts";
import type { HandlerContext, ResolvedSubscription } from "./subscribe.ts";
import { guardTransaction } from "./tx-guard.ts";

export interface RunDeps {
  db: Db;
  redis: Redis;
  prefix: string;
  log: Logger;
  relay?: Waker;
  signal?: AbortSignal;
  idempotencyTtlMs: number;
}

/** A run (one transaction) that failed, and whether it got as far as the handler. */
export class RunFailure extends Error {
  override name = "RunFailure";
  constructor(readonly error: Error, readonly reachedHandler: boolean) {
    super(error.message, { cause: error });
  }
}

export interface Run {
  event: StreamEvent;
  attempt: number;
}

/**
 * Runs the handler for `runs` in one transaction: claims them in processed_events, runs the
 * handler for the new ones (handleBatch with all of them, or handle one after another, never
 * interleaved), commits. Returns what the claim found: the ids that were new (processed now; the
 * others were duplicates). On failure nothing of it committed, and it throws a RunFailure.
 */
export async function runBatch(deps: RunDeps, sub: ResolvedSubscription, runs: Run[]): Promise<Claimed> {
  let reachedHandler = false;
  try {
    if (sub.options.rateLimit) await waitForRateLimit(deps.redis, deps.prefix, sub.handler, sub.options.rateLimit, deps.signal);
    return await commitWithEvents(deps.db, deps.relay, async (tx) => {
      const claimed = await claimEvents(tx, sub.handler, [...new Set(runs.map((r) => r.event.id))], sub.options.timeoutMs);
      const seen = new Set<string>();
      const todo = runs.filter((r) => claimed.fresh.has(r.event.id) && !seen.has(r.event.id) && seen.add(r.event.id));
      if (todo.length === 0) return claimed;
      reachedHandler = true;
      await runHandler(deps, sub, tx, todo);
      return claimed;
    });
  } catch (thrown) {
    throw new RunFailure(toError(thrown), reachedHandler);
  }
}

/**
 * The handler inside the transaction, bounded by timeoutMs. When the time is up, the transaction
 * refuses further statements and the one in flight is cancelled before the run fails (and so
 * before the ROLLBACK goes out): nothing of a timed-out run can land outside its transaction.
 */
async function runHandler(deps: RunDeps, sub: ResolvedSubscription, rawTx: Tx, runs: Run[]): Promise<void> {
  const guard = guardTransaction(rawTx);
  const controller = new AbortController();
  let ending: Promise<void> | null = null;
  let expire!: (err: Error) => void;
  const expired = new Promise<never>((_, reject) => (expire = reject));
  const timer = setTimeout(() => {
    const err = new Error(`handler timed out after ${sub.options.timeoutMs} ms`);
    controller.abort(err);
    ending = guard.end();
    expire(err);
  }, sub.options.timeoutMs);
  const work = invoke(deps, sub, guard.tx, runs, controller.signal);
  work.catch(() => {}); // when the deadline wins the race, its failure is reported instead
  try {
    await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
    // MUST wait: the ROLLBACK that follows must not reach the server before the cancel does.
    await (ending ?? guard.end());
  }
  if (controller.signal.aborted) throw controller.signal.reason; // done, but past the deadline: not committed
}

function invoke(deps: RunDeps, sub: ResolvedSubscription, tx: Tx, runs: Run[], signal: AbortSignal): Promise<void> {
  const { redis } = deps;
  const context = (attempt: number, eventId?: string): HandlerContext => {
    let log: Logger | undefined;
    return {
      tx, redis, attempt, handler: sub.handler, signal,
      // Made on first use: most handlers never log, and this runs for every event.
      get log() {
        return (log ??= deps.log.child(eventId ? { handler: sub.handler, eventId } : { handler: sub.handler }));
      },
      writeEvent: (input: EventInput) => writeEvent(tx, input),
      claimOnce: (key: string) => claimIdempotencyKey(redis, keys.idempotency(deps.prefix, key), deps.idempotencyTtlMs),
    };
  };
  if (sub.handleBatch && (runs.length > 1 || !sub.handle)) {
    return sub.handleBatch(runs.map((r) => r.event), context(Math.max(...runs.map((r) => r.attempt))));
  }
  return (async () => {
    for (const r of runs) await sub.handle!(r.event, context(r.attempt, r.event.id));
  })();
}
