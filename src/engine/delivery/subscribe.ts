import type Redis from "ioredis";
import type { z } from "zod";
import type { AnySchema, EngineTx } from "../db.ts";
import type { EventInput, WrittenEvent } from "../outbox/write-event.ts";
import type { StreamEvent } from "../redis/entry.ts";
import { isReservedEventType } from "../redis/keys.ts";
import type { BackoffOptions } from "../support/backoff.ts";
import type { Logger } from "../support/logger.ts";
import type { PartitionKey } from "../partitions/layout.ts";

/** What a handler run gets besides its event(s). */
export interface HandlerContext<TSchema extends AnySchema = AnySchema> {
  /** The transaction the engine opened; the effects and the processed_events records commit together. It throws once the run has ended. */
  tx: EngineTx<TSchema>;
  /** Writes a follow-up event in the same transaction. */
  writeEvent(input: EventInput): Promise<WrittenEvent>;
  redis: Redis;
  log: Logger;
  handler: string;
  /**
   * 1 on the first attempt, growing with each failed one (a delivery cut short by a crash is not
   * an attempt). For a batch, the highest attempt among its events.
   */
  attempt: number;
  /** Aborted when the run exceeds its timeout: pass it to fetch and other cancellable work. */
  signal: AbortSignal;
  /**
   * For an effect outside PostgreSQL (an e-mail, another API): true the first time `key` is
   * claimed within the idempotency TTL, false on a redelivery, so the effect is not repeated.
   */
  claimOnce(key: string): Promise<boolean>;
}

/** What the business does for one event. Retries, idempotency and dead-lettering wrap it. */
export type HandlerFn<P, TSchema extends AnySchema = AnySchema> = (event: StreamEvent<P>, ctx: HandlerContext<TSchema>) => Promise<void>;

/**
 * The set-based form: the events of one delivery not yet processed by this handler, in stream
 * order (or lockKey order), all in one transaction. MUST treat every event exactly as `handle`
 * would: the batch commits or rolls back as a whole, and a failed batch is run again one event
 * per transaction.
 */
export type BatchHandlerFn<P, TSchema extends AnySchema = AnySchema> = (events: StreamEvent<P>[], ctx: HandlerContext<TSchema>) => Promise<void>;

export interface HandlerOptions {
  /** Transactions this process runs at once for this subscription. Defaults to 4. */
  concurrency: number;
  /** Entries committed together in one transaction; 1 turns batching off. Defaults to 100. */
  batchSize: number;
  /** Failed attempts before the event is dead-lettered. Defaults to 5. */
  maxAttempts: number;
  /** Delay before the next attempt. Defaults to 1 s, doubling, at most 60 s (with ±20 % jitter). */
  backoff: BackoffOptions;
  /** At most `max` handler runs per `durationMs`, across every machine. Defaults to none. */
  rateLimit?: { max: number; durationMs: number };
  /** A run taking longer fails, rolls back and is retried. Defaults to 5 minutes. */
  timeoutMs: number;
  /**
   * While a subscription of the same handler on a higher-priority event type is backed up, this
   * one reads nothing new (its type's priority: EngineOptions.priorities). Defaults to false.
   */
  priorityFirst: boolean;
}

export interface Subscription<P = unknown, TSchema extends AnySchema = AnySchema> {
  /** The consumer group: one per handler on each stream it reads, so events fan out to every handler. */
  handler: string;
  eventType: string;
  schema: z.ZodType<P>;
  /** At least one of handle and handleBatch; with both, a batch runs handleBatch and a single event handle. */
  handle?(event: StreamEvent<P>, ctx: HandlerContext<TSchema>): Promise<void>;
  handleBatch?(events: StreamEvent<P>[], ctx: HandlerContext<TSchema>): Promise<void>;
  options?: Partial<HandlerOptions>;
  /**
   * The row a run locks, for a handler whose events lock one shared row each (a per-tenant
   * counter, an order). A batch holds its locks until it commits, so the events of a batch run
   * sorted by this key (stream order within a key): every batch then takes those locks in the
   * same order, and two batches never deadlock each other.
   */
  lockKey?(event: StreamEvent<P>): string;
  /**
   * A handler added to an event type answers for the events published from its first start on;
   * with `backfill` it gets every event of the type still in the outbox instead (once, at its
   * first start). Defaults to false.
   */
  backfill?: boolean;
  /**
   * What the event type's partitions are keyed by: `aggregateId` (the default), `tenantId`, or a
   * key computed from the event. Every handler of one type that names it must name the same.
   * (Typed for any payload: the relay computes it before a handler's schema parsed the event.)
   */
  partitionKey?: PartitionKey<never>;
  /**
   * Events with the same partition key run one at a time, in outbox order; a key whose event is
   * dead-lettered is parked (its later events wait) until that dead letter is retried or deleted.
   * Different keys still run in parallel. Defaults to false. See README "Ordering".
   */
  ordered?: boolean;
}

/** A subscription with every option filled in. */
export type ResolvedSubscription = Subscription & { options: HandlerOptions };

const NAME = /^[A-Za-z0-9_.-]{1,100}$/;

/** Declares that `handler` runs for every `eventType` event whose payload passes `schema`. */
export function subscribe<S extends z.ZodType, TSchema extends AnySchema = AnySchema>(def: {
  handler: string;
  eventType: string;
  schema: S;
  handle?: HandlerFn<z.infer<S>, TSchema>;
  handleBatch?: BatchHandlerFn<z.infer<S>, TSchema>;
  options?: Partial<HandlerOptions>;
  lockKey?: (event: StreamEvent<z.infer<S>>) => string;
  backfill?: boolean;
  partitionKey?: PartitionKey<z.infer<S>>;
  ordered?: boolean;
}): Subscription<z.infer<S>, TSchema> {
  if (!NAME.test(def.handler)) throw new Error(`handler name "${def.handler}" must match ${NAME}`);
  // The relay's own dead letters carry handler "relay"; a retry of one re-queues the outbox row.
  if (def.handler === "relay") throw new Error(`handler name "relay" is reserved for the relay's dead letters`);
  if (!def.eventType || isReservedEventType(def.eventType)) throw new Error(`event type "${def.eventType}" is reserved or empty`);
  if (!def.handle && !def.handleBatch) throw new Error(`handler ${def.handler} needs handle or handleBatch`);
  return def as unknown as Subscription<z.infer<S>, TSchema>;
}

/**
 * `subscribe` with `ctx.tx` typed by your drizzle schema:
 * `const on = subscriber<typeof schema>(); on({ handler, eventType, schema, handle })`.
 */
export function subscriber<TSchema extends AnySchema>() {
  return <S extends z.ZodType>(def: Parameters<typeof subscribe<S, TSchema>>[0]) => subscribe<S, TSchema>(def);
}

/** Fills each subscription's options from the defaults; rejects a handler registered twice on one type. */
export function resolveSubscriptions(subs: readonly Subscription[], defaults: HandlerOptions): ResolvedSubscription[] {
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
        priorityFirst: o.priorityFirst ?? defaults.priorityFirst,
      },
    };
  });
}
