/**
 * Every Redis key the service touches, in one place, all under STREAM_PREFIX.
 *
 * An event type's stream is split into partitions (STREAM_PARTITIONS). Every key of one partition
 * shares one Redis Cluster hash slot, so each Lua script and MULTI on a partition touches one slot
 * and the partitions spread over the shards: partition 0 keeps the stream key `<prefix>:<type>`
 * (a key without braces hashes whole) and tags its companions `{<prefix>:<type>}`; partition p > 0
 * is `<prefix>:{<type>:<p>}` with companions tagged `{<type>:<p>}`. The service's own global keys
 * that a script or MULTI uses together are tagged with the first one's name.
 */
export const keys = {
  stream: (prefix: string, eventType: string, partition = 0) =>
    partition === 0 ? `${prefix}:${eventType}` : `${prefix}:{${eventType}:${partition}}`,
  deadLetters: (prefix: string) => `${prefix}:dlq`,
  /** In the slot of `<prefix>:dlq`: the copies and their counts change together. */
  deadLetterCounts: (prefix: string) => `${prefix}:dlq-counts{${prefix}:dlq}`,
  lock: (prefix: string, name: string) => `${prefix}:lock:${name}`,
  consumerName: (prefix: string, name: string) => `${prefix}:consumer:${name}`,
  rateLimit: (prefix: string, handler: string, window: number) => `${prefix}:ratelimit:${handler}:${window}`,
  idempotency: (prefix: string, key: string) => `${prefix}:idem:${key}`,
  /** Set of a group's pending ids whose entries were deleted, awaiting recovery from the outbox. */
  orphans: (prefix: string, handler: string, eventType: string, partition = 0) =>
    `${prefix}:orphans:${handler}:{${slotTag(prefix, eventType, partition)}}`,
  /** Hash of a group's entry id -> failed attempts, for entries not yet settled (failures.ts). */
  failures: (prefix: string, handler: string, eventType: string, partition = 0) =>
    `${prefix}:failures:${handler}:{${slotTag(prefix, eventType, partition)}}`,
  /** An ordered handler's lease on one partition: `<consumer>|<generation>` while a consumer owns it. */
  lease: (prefix: string, handler: string, eventType: string, partition = 0) =>
    `${prefix}:lease:${handler}:{${slotTag(prefix, eventType, partition)}}`,
  /** Sorted set: consumer -> last heartbeat (ms), the live consumers sharing an ordered handler's partitions. */
  members: (prefix: string, handler: string, eventType: string) => `${prefix}:members:${handler}:${eventType}`,
  /** Sentinel written once Redis is known to hold everything the outbox says it should; gone means Redis lost data. */
  epoch: (prefix: string) => `${prefix}:epoch`,
  /** Counter every watcher increments each check: a value going backwards means Redis lost writes (a failover, a restore). In the slot of the epoch. */
  epochSeq: (prefix: string) => `${prefix}:epoch-seq{${prefix}:epoch}`,
  /** The token of the recovery under way: gone at its end means Redis lost data during it. In the slot of the epoch. */
  recoveryNonce: (prefix: string) => `${prefix}:recovery-nonce{${prefix}:epoch}`,
  /**
   * A part of Redis's own sentinel, in the slot whose keys it vouches for (`tag`: a partition's
   * slotTag, or `<prefix>:dlq`): gone while `<prefix>:epoch` is there means that part (one
   * cluster shard, or one partition's keys) lost its data.
   */
  slotEpoch: (prefix: string, tag: string) => `${prefix}:epoch{${tag}}`,
  /** Set of the parts (`<type>#<partition>`, `dead letters`) a slotEpoch was ever written for: a missing one is lost, not new. In the slot of the epoch. */
  vouchedParts: (prefix: string) => `${prefix}:epoch-parts{${prefix}:epoch}`,
  /** The token of the recovery under way, per slot as slotEpoch. */
  slotRecoveryNonce: (prefix: string, tag: string) => `${prefix}:recovery-nonce{${tag}}`,
  /** Hash: handler name -> JSON {since, by}. Present means every machine's loops of that handler read nothing new. */
  paused: (prefix: string) => `${prefix}:paused`,
  /** Hash: consumer name -> JSON {types, at}: the event types each machine's code knows (rolling deploys). */
  catalogs: (prefix: string) => `${prefix}:catalogs`,
};

/** The hash tag every key of one partition carries. */
export function slotTag(prefix: string, eventType: string, partition: number): string {
  return partition === 0 ? `${prefix}:${eventType}` : `${eventType}:${partition}`;
}

// `console:` is the shop console's own namespace under the prefix. Braces would change a stream's
// hash slot (and could name another type's partition).
const RESERVED = /^(dlq|dlq-counts|epoch|epoch-seq|recovery-nonce|paused|catalogs)$|^(lock|consumer|ratelimit|idem|orphans|failures|lease|members|console):|[{}]/;

/** An event type whose stream key would collide with one of the service's own keys. */
export function isReservedEventType(eventType: string): boolean {
  return RESERVED.test(eventType);
}

/** The event type and partition a stream key belongs to, or undefined for a key that is not an event stream. */
export function streamOf(prefix: string, key: string): { eventType: string; partition: number } | undefined {
  if (!key.startsWith(prefix + ":")) return undefined;
  const rest = key.slice(prefix.length + 1);
  if (rest === "dlq") return undefined;
  const tagged = /^\{(.+):(\d+)\}$/.exec(rest);
  if (tagged) return { eventType: tagged[1]!, partition: Number(tagged[2]) };
  return rest.includes("{") ? undefined : { eventType: rest, partition: 0 };
}

/** The event type a stream key belongs to, or undefined for a key that is not an event stream. */
export function eventTypeOf(prefix: string, key: string): string | undefined {
  return streamOf(prefix, key)?.eventType;
}
