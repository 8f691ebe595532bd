import { randomUUID } from "node:crypto";
import type Redis from "ioredis";

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

/** Takes `key` for `ttlMs` if nobody holds it; returns the owner token, or null when taken. */
export async function acquireLock(redis: Redis, key: string, ttlMs: number): Promise<string | null> {
  const token = randomUUID();
  const ok = await redis.set(key, token, "PX", ttlMs, "NX");
  return ok === "OK" ? token : null;
}

/** Releases `key` only if `token` still owns it; a lock that expired and was taken by another stays theirs. */
export async function releaseLock(redis: Redis, key: string, token: string): Promise<boolean> {
  return (await redis.eval(RELEASE, 1, key, token)) === 1;
}

/** Extends `key` only if `token` still owns it; false means the lock was lost. */
export async function extendLock(redis: Redis, key: string, token: string, ttlMs: number): Promise<boolean> {
  return (await redis.eval(EXTEND, 1, key, token, ttlMs)) === 1;
}

export type LockResult<T> = { acquired: true; result: T } | { acquired: false };

/**
 * Runs `fn` while holding `key`, extending the lock every third of its TTL; when the lock is
 * taken, returns `{acquired: false}` without running. Released by its owner only, even if `fn` throws.
 */
export async function withLock<T>(redis: Redis, key: string, ttlMs: number, fn: () => Promise<T>): Promise<LockResult<T>> {
  const token = await acquireLock(redis, key, ttlMs);
  if (!token) return { acquired: false };
  const keeper = setInterval(() => void extendLock(redis, key, token, ttlMs).catch(() => {}), Math.max(10, ttlMs / 3));
  try {
    return { acquired: true, result: await fn() };
  } finally {
    clearInterval(keeper);
    await releaseLock(redis, key, token).catch(() => {});
  }
}
