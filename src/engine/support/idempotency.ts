import type Redis from "ioredis";

export const DEFAULT_IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * For effects outside PostgreSQL (an e-mail, a call to another API): true exactly once per `key`
 * within `ttlMs`, so a redelivered event does not repeat the effect. Call `releaseIdempotencyKey`
 * when the effect failed and should be tried again.
 */
export async function claimIdempotencyKey(redis: Redis, key: string, ttlMs = DEFAULT_IDEMPOTENCY_TTL_MS): Promise<boolean> {
  return (await redis.set(key, String(Date.now()), "PX", ttlMs, "NX")) === "OK";
}

export async function releaseIdempotencyKey(redis: Redis, key: string): Promise<void> {
  await redis.del(key);
}
