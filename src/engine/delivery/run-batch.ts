import type { Span } from "@opentelemetry/api";
import type Redis from "ioredis";
import type { Db, Tx } from "../db.ts";
import { commitWithEvents, writeEvent, type EventInput, type Waker } from "../outbox/write-event.ts";
import { decodeTrace, type StreamEvent } from "../redis/entry.ts";
import { keys } from "../redis/keys.ts";
import { toError } from "../support/errors.ts";
import { claimIdempotencyKey } from "../support/idempotency.ts";
import type { Logger } from "../support/logger.ts";
import { activeTracer, endSpans, startProcessSpan, withSpan } from "../support/tracing.ts";
import type { Delivery } from "./classify.ts";
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
  /** The partition stream the entries came from (for spans); defaults to the type's partition 0. */
  stream?: string;
  /** The first statements of every run's transaction (an ordered handler's fence check); throwing fails the run before its handler. */
  beforeRun?(tx: Tx, runs: Run[]): Promise<void>;
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
  /** The delivery it came from; its fields carry the trace context the run's span continues. */
  delivery?: Delivery;
}

/**
 * Runs the handler for `runs` in one transaction: claims them in processed_events, runs the
 * handler for the new ones (handleBatch with all of them, or handle one after another, never
 * interleaved), commits. Returns what the claim found: the ids that were new (processed now; the
 * others were duplicates). On failure nothing of it committed, and it throws a RunFailure.
 * With an OpenTelemetry SDK registered, each event the handler runs for gets a span
 * `process <type>` that ends when the transaction has committed or failed.
 */
export async function runBatch(deps: RunDeps, sub: ResolvedSubscription, runs: Run[]): Promise<Claimed> {
  let reachedHandler = false;
  const tracer = activeTracer();
  const spans: Span[] = [];
  try {
    if (sub.options.rateLimit) await waitForRateLimit(deps.redis, deps.prefix, sub.handler, sub.options.rateLimit, deps.signal);
    const claimed = await commitWithEvents(deps.db, deps.relay, async (tx) => {
      await deps.beforeRun?.(tx, runs);
      const claimed = await claimEvents(tx, sub.handler, [...new Set(runs.map((r) => r.event.id))], sub.options.timeoutMs, !!sub.ordered);
      const seen = new Set<string>();
      const todo = runs.filter((r) => claimed.fresh.has(r.event.id) && !seen.has(r.event.id) && seen.add(r.event.id));
      if (todo.length === 0) return claimed;
      reachedHandler = true;
      if (tracer) {
        const stream = deps.stream ?? keys.stream(deps.prefix, sub.eventType);
        for (const r of todo) {
          spans.push(startProcessSpan(tracer, stream, sub.handler, {
            event: r.event, attempt: r.attempt, entryId: r.delivery?.id, deliveries: r.delivery?.deliveries,
            carrier: r.delivery ? decodeTrace(r.delivery.fields) : null,
          }, todo.length));
        }
      }
      await runHandler(deps, sub, tx, todo, spans);
      return claimed;
    });
    endSpans(spans);
    return claimed;
  } catch (thrown) {
    const error = toError(thrown);
    endSpans(spans, error);
    throw new RunFailure(error, reachedHandler);
  }
}

/**
 * The handler inside the transaction, bounded by timeoutMs. When the time is up, the transaction
 * refuses further statements and the one in flight is cancelled before the run fails (and so
 * before the ROLLBACK goes out): nothing of a timed-out run can land outside its transaction.
 */
async function runHandler(deps: RunDeps, sub: ResolvedSubscription, rawTx: Tx, runs: Run[], spans: readonly Span[]): Promise<void> {
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
  const work = invoke(deps, sub, guard.tx, runs, controller.signal, spans);
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

/** `spans[i]` (when tracing) is run i's span, active while the handler runs for it. */
function invoke(deps: RunDeps, sub: ResolvedSubscription, tx: Tx, runs: Run[], signal: AbortSignal, spans: readonly Span[]): Promise<void> {
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
    const batch = () => sub.handleBatch!(runs.map((r) => r.event), context(Math.max(...runs.map((r) => r.attempt))));
    // Events a batch of several writes follow none of them in particular: they start traces of their own.
    return spans.length === 1 ? withSpan(spans[0]!, batch) : batch();
  }
  return (async () => {
    for (let i = 0; i < runs.length; i++) {
      const r = runs[i]!;
      const span = spans[i];
      await (span ? withSpan(span, () => sub.handle!(r.event, context(r.attempt, r.event.id))) : sub.handle!(r.event, context(r.attempt, r.event.id)));
    }
  })();
}
