import type Redis from "ioredis";
import type { z } from "zod";
import type { Tx } from "../db/client.ts";
import type { BackoffOptions } from "../lib/backoff.ts";
import type { Logger } from "../lib/logger.ts";
import type { EventInput, WrittenEvent } from "../outbox/write-event.ts";
import type { StreamEvent } from "./entry.ts";
import { isReservedEventType } from "./keys.ts";

export interface HandlerContext {
  /** The transaction the engine opened; the effects and the processed_events record commit together. */
  tx: Tx;
  /** Writes a follow-up event in the same transaction. */
  writeEvent(input: EventInput): Promise<WrittenEvent>;
  redis: Redis;
  log: Logger;
  handler: string;
  /** 1 on the first delivery, growing with each redelivery. */
  attempt: number;
  /** Aborted when the run exceeds its timeout: pass it to fetch and other cancellable work. */
  signal: AbortSignal;
  /**
   * For an effect outside PostgreSQL (an e-mail, another API): true the first time `key` is
   * claimed within IDEMPOTENCY_TTL_MS, false on a redelivery, so the effect is not repeated.
   */
  claimOnce(key: string): Promise<boolean>;
}

/** What the business does for one event. Retries, idempotency and dead-lettering wrap it. */
export type HandlerFn<P> = (event: StreamEvent<P>, ctx: HandlerContext) => Promise<void>;

export interface HandlerOptions {
  /** Transactions this process runs at once for this subscription (each one entry, or a batch run one after another). */
  concurrency: number;
  /** New entries committed together in one transaction; 1 turns batching off. */
  batchSize: number;
  /** Deliveries before the entry moves to the dead-letter stream. */
  maxAttempts: number;
  backoff: BackoffOptions;
  /** At most `max` handler runs per `durationMs`, across every machine. */
  rateLimit?: { max: number; durationMs: number };
  /** A run taking longer fails (and is retried): a hung handler must not hold its entry forever. */
  timeoutMs: number;
}

export interface Subscription<P = unknown> {
  /** The consumer group: one per handler on each stream it reads, so events fan out to every handler. */
  handler: string;
  eventType: string;
  schema: z.ZodType<P>;
  handle: HandlerFn<P>;
  options?: Partial<HandlerOptions>;
  /**
   * The row a run locks, for a handler whose events lock one shared row each (a per-tenant
   * counter, an order). A batch holds its locks until it commits, so the events of a batch run
   * sorted by this key (stream order within a key): every batch then takes those locks in the
   * same order, and two batches never deadlock each other.
   */
  lockKey?: (event: StreamEvent<P>) => string;
}

const NAME = /^[A-Za-z0-9_.-]{1,100}$/;

/** Declares that `handler` runs for every `eventType` event whose payload passes `schema`. */
export function subscribe<S extends z.ZodType>(def: {
  handler: string;
  eventType: string;
  schema: S;
  handle: HandlerFn<z.infer<S>>;
  options?: Partial<HandlerOptions>;
  lockKey?: (event: StreamEvent<z.infer<S>>) => string;
}): Subscription {
  if (!NAME.test(def.handler)) throw new Error(`handler name "${def.handler}" must match ${NAME}`);
  // The relay's own dead letters carry handler "relay"; a retry of one re-queues the outbox row.
  if (def.handler === "relay") throw new Error(`handler name "relay" is reserved for the relay's dead letters`);
  if (!def.eventType || isReservedEventType(def.eventType)) throw new Error(`event type "${def.eventType}" is reserved or empty`);
  return def as unknown as Subscription;
}

/** Fills each subscription's options from the configured defaults; rejects a handler registered twice on one type. */
export function resolveSubscriptions(subs: Subscription[], defaults: HandlerOptions): (Subscription & { options: HandlerOptions })[] {
  const seen = new Set<string>();
  return subs.map((s) => {
    const id = `${s.handler}@${s.eventType}`;
    if (seen.has(id)) throw new Error(`handler ${s.handler} is registered twice for ${s.eventType}`);
    seen.add(id);
    const o = s.options ?? {};
    return {
      ...s,
      options: {
        concurrency: o.concurrency ?? defaults.concurrency,
        batchSize: o.batchSize ?? defaults.batchSize,
        maxAttempts: o.maxAttempts ?? defaults.maxAttempts,
        backoff: { ...defaults.backoff, ...o.backoff },
        rateLimit: o.rateLimit ?? defaults.rateLimit,
        timeoutMs: o.timeoutMs ?? defaults.timeoutMs,
      },
    };
  });
}
