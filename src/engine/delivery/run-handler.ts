import type Redis from "ioredis";
import type { Tx } from "../db.ts";
import { claimIdempotencyKey } from "../support/idempotency.ts";
import type { Logger } from "../support/logger.ts";
import { writeEvent, type EventInput } from "../outbox/write-event.ts";
import type { StreamEvent } from "../redis/entry.ts";
import type { HandlerOptions, Subscription } from "./subscribe.ts";
import { keys } from "../redis/keys.ts";

export interface RunHandlerDeps {
  redis: Redis;
  prefix: string;
  log: Logger;
  idempotencyTtlMs: number;
}

/**
 * Runs the business handler for one event inside `tx`, with its context, failing after the
 * subscription's timeoutMs (the caller's transaction then rolls back; ctx.signal tells the
 * handler to give up).
 */
export function runHandler(
  deps: RunHandlerDeps, sub: Subscription & { options: HandlerOptions }, event: StreamEvent, tx: Tx, attempt: number,
): Promise<void> {
  const { redis } = deps;
  let log: Logger | undefined;
  return withTimeout(sub.options.timeoutMs, (signal) => {
    const ctx = {
      tx, redis, attempt, handler: sub.handler, signal,
      // Made on first use: most handlers never log, and this runs for every event.
      get log() {
        return (log ??= deps.log.child({ handler: sub.handler, eventId: event.id }));
      },
      writeEvent: (input: EventInput) => writeEvent(tx, input),
      claimOnce: (key: string) => claimIdempotencyKey(redis, keys.idempotency(deps.prefix, key), deps.idempotencyTtlMs),
    };
    return sub.handle ? sub.handle(event, ctx) : sub.handleBatch!([event], ctx);
  });
}

async function withTimeout(ms: number, work: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new Error(`handler timed out after ${ms} ms`);
      controller.abort(err);
      reject(err);
    }, ms);
  });
  try {
    await Promise.race([work(controller.signal), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** The handler's typed view of an entry's event, or why the handler must not get it. */
export function checkPayload(sub: Subscription, event: StreamEvent): { event: StreamEvent } | { error: string } {
  const parsed = sub.schema.safeParse(event.payload);
  if (parsed.success) return { event: { ...event, payload: parsed.data } };
  const detail = parsed.error.issues.map((i) => `${i.path.join(".") || "(payload)"}: ${i.message}`).join("; ");
  return { error: `payload does not match the ${event.type} schema: ${detail}` };
}

/** The event's age when its handler finished, for the end-to-end latency metric. */
export function latencyOf(event: StreamEvent): { latencyMs?: number } {
  const occurred = Date.parse(event.occurredAt);
  return Number.isFinite(occurred) ? { latencyMs: Date.now() - occurred } : {};
}
