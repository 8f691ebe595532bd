import { randomUUID } from "node:crypto";
import { readFileSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";
import type Redis from "ioredis";
import { extendLock, releaseLock } from "../support/lock.ts";
import type { Logger } from "../support/logger.ts";
import { sleep } from "../support/sleep.ts";
import { keys } from "../redis/keys.ts";

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

// Host, kernel boot, PID namespace and PID: equal to ours only for an earlier life of this very
// process (`bun --watch` restarts in place under the same PID), which cannot still be running.
// The boot id tells apart hosts that share a host name; the namespace, containers on one host.
export const PROCESS_IDENTITY = [hostname(), readOr(() => readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()), readOr(() => readlinkSync("/proc/self/ns/pid")), process.pid].join("|");

function readOr(read: () => string): string {
  try {
    return read();
  } catch {
    return "-";
  }
}

const TAKE_OVER = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) else return false end`;

// Names held by engines of this process right now: those are alive and never taken over.
const heldHere = new Set<string>();

async function acquire(redis: Redis, key: string, ttlMs: number): Promise<string | null> {
  const token = `${PROCESS_IDENTITY}|${randomUUID()}`;
  let ok = (await redis.set(key, token, "PX", ttlMs, "NX")) === "OK";
  if (!ok && !heldHere.has(key)) {
    const holder = await redis.get(key);
    ok = !!holder?.startsWith(`${PROCESS_IDENTITY}|`) && !heldHere.has(key) && (await redis.eval(TAKE_OVER, 1, key, holder, token, ttlMs)) === "OK";
  }
  if (ok) heldHere.add(key);
  return ok ? token : null;
}

/**
 * Holds the consumer name for as long as this process consumes, so two processes sharing one
 * name never both run. A restarted machine waits here until its previous life's claim expires
 * (at most the TTL); a process restarted in place takes its own name back at once.
 */
export async function claimConsumerName({ redis, prefix, name, log, ttlMs = 10_000, signal, onLost }: IdentityOptions): Promise<ConsumerIdentity | null> {
  const key = keys.consumerName(prefix, name);
  let token: string | null = null;
  let warned = false;
  while (!signal?.aborted) {
    token = await acquire(redis, key, ttlMs).catch(() => null);
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
      // Missing (Redis lost its data) is re-taken; held by someone else means we lost it. A
      // re-take whose reply was lost has set our own token: that is ours too.
      if ((await redis.set(key, owned, "PX", ttlMs, "NX")) === "OK" || (await redis.get(key)) === owned) return;
      clearInterval(timer);
      heldHere.delete(key);
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
      heldHere.delete(key);
      await releaseLock(redis, key, owned).catch(() => {});
    },
  };
}
