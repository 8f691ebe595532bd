import type Redis from "ioredis";
import { acquireLock, extendLock, releaseLock } from "../lib/lock.ts";
import type { Logger } from "../lib/logger.ts";
import { sleep } from "../lib/sleep.ts";
import { keys } from "./keys.ts";

export interface ConsumerIdentity {
  name: string;
  release(): Promise<void>;
}

export interface IdentityOptions {
  redis: Redis;
  prefix: string;
  name: string;
  log: Logger;
  ttlMs?: number;
  signal?: AbortSignal;
  /** Called when another process took the name (this one stalled past the TTL): stop consuming. */
  onLost: () => void;
}

/**
 * Holds the consumer name for as long as this process consumes, so two processes sharing one
 * name never both run. A restarted machine waits here until its previous life's claim expires.
 */
export async function claimConsumerName({ redis, prefix, name, log, ttlMs = 10_000, signal, onLost }: IdentityOptions): Promise<ConsumerIdentity | null> {
  const key = keys.consumerName(prefix, name);
  let token: string | null = null;
  let warned = false;
  while (!signal?.aborted) {
    token = await acquireLock(redis, key, ttlMs).catch(() => null);
    if (token) break;
    if (!warned) log.warn("consumer name is held by another process; waiting for it", { consumer: name, ttlMs });
    warned = true;
    await sleep(Math.min(1_000, ttlMs / 4), signal);
  }
  if (!token) return null;
  const owned = token;
  const timer = setInterval(async () => {
    try {
      if (await extendLock(redis, key, owned, ttlMs)) return;
      // Missing (Redis lost its data) is re-taken; held by someone else means we lost it.
      if ((await redis.set(key, owned, "PX", ttlMs, "NX")) === "OK") return;
      clearInterval(timer);
      log.error("consumer name was taken by another process; stopping consumers", { consumer: name });
      onLost();
    } catch {
      // Redis unreachable: keep trying; the consumers fail on their own meanwhile.
    }
  }, Math.max(50, Math.floor(ttlMs / 3)));
  return {
    name,
    async release() {
      clearInterval(timer);
      await releaseLock(redis, key, owned).catch(() => {});
    },
  };
}
