/** Every Redis key the service touches, in one place, all under STREAM_PREFIX. */
export const keys = {
  stream: (prefix: string, eventType: string) => `${prefix}:${eventType}`,
  deadLetters: (prefix: string) => `${prefix}:dlq`,
  deadLetterCounts: (prefix: string) => `${prefix}:dlq-counts`,
  lock: (prefix: string, name: string) => `${prefix}:lock:${name}`,
  consumerName: (prefix: string, name: string) => `${prefix}:consumer:${name}`,
  rateLimit: (prefix: string, handler: string, window: number) => `${prefix}:ratelimit:${handler}:${window}`,
  idempotency: (prefix: string, key: string) => `${prefix}:idem:${key}`,
  /** Set of a group's pending ids whose entries were deleted, awaiting recovery from the outbox. */
  orphans: (prefix: string, handler: string, eventType: string) => `${prefix}:orphans:${handler}:${eventType}`,
  /** Hash of a group's entry id -> failed attempts, for entries not yet settled (failures.ts). */
  failures: (prefix: string, handler: string, eventType: string) => `${prefix}:failures:${handler}:${eventType}`,
  /** Sentinel written once Redis is known to hold everything the outbox says it should; gone means Redis lost data. */
  epoch: (prefix: string) => `${prefix}:epoch`,
  /** Counter every watcher increments each check: a value going backwards means Redis lost writes (a failover, a restore). */
  epochSeq: (prefix: string) => `${prefix}:epoch-seq`,
  /** The token of the recovery under way: gone at its end means Redis lost data during it. */
  recoveryNonce: (prefix: string) => `${prefix}:recovery-nonce`,
  /** Hash: handler name -> JSON {since, by}. Present means every machine's loops of that handler read nothing new. */
  paused: (prefix: string) => `${prefix}:paused`,
  /** Hash: consumer name -> JSON {types, at}: the event types each machine's code knows (rolling deploys). */
  catalogs: (prefix: string) => `${prefix}:catalogs`,
};

// `console:` is the shop console's own namespace under the prefix.
const RESERVED = /^(dlq|dlq-counts|epoch|epoch-seq|recovery-nonce|paused|catalogs)$|^(lock|consumer|ratelimit|idem|orphans|failures|console):/;

/** An event type whose stream key would collide with one of the service's own keys. */
export function isReservedEventType(eventType: string): boolean {
  return RESERVED.test(eventType);
}

/** The event type a stream key belongs to, or undefined for a key that is not an event stream. */
export function eventTypeOf(prefix: string, key: string): string | undefined {
  if (!key.startsWith(prefix + ":")) return undefined;
  const rest = key.slice(prefix.length + 1);
  return rest === "dlq" ? undefined : rest;
}
