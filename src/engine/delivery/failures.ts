import type Redis from "ioredis";

/**
 * A delivery that ends with its process (SIGKILL, a lost machine) is not a failure of the event:
 * an attempt is used only when the handler fails or times out. Those failures are counted per
 * stream entry in a hash per group and partition (`keys.failures`), not read from Redis'
 * delivery count, which grows with every crash too. If Redis loses the hash, counts start over.
 */
export const CRASH_ALLOWANCE = 10;

/** Records one failed attempt of `entryId`; returns how many it has had. */
export async function countFailure(redis: Redis, key: string, entryId: string): Promise<number> {
  return redis.hincrby(key, entryId, 1);
}

/** Forgets the counts of settled entries (acked or dead-lettered). */
export async function forgetFailures(redis: Redis, key: string, entryIds: string[]): Promise<void> {
  if (entryIds.length > 0) await redis.hdel(key, ...entryIds);
}

/**
 * Each redelivered entry's attempt number: its failures so far, plus one. A first delivery has
 * had no attempt yet, so only entries delivered before are looked up (one HMGET).
 */
export async function attemptsOf<E extends { id: string; deliveries: number }>(redis: Redis, key: string, entries: E[]): Promise<(E & { attempt: number })[]> {
  const redelivered = entries.filter((e) => e.deliveries > 1).map((e) => e.id);
  const counts = redelivered.length ? await redis.hmget(key, ...redelivered) : [];
  const failures = new Map(redelivered.map((id, i) => [id, Number(counts[i] ?? 0)]));
  return entries.map((e) => ({ ...e, attempt: (failures.get(e.id) ?? 0) + 1 }));
}
