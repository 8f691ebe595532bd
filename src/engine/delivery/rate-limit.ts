import type Redis from "ioredis";
import { sleep } from "../support/sleep.ts";
import { keys } from "../redis/keys.ts";

/**
 * Waits for a slot in a fixed window shared by every machine: at most `max` runs of `handler`
 * per `durationMs`. Resolves at once when the signal aborts.
 */
export async function waitForRateLimit(
  redis: Redis, prefix: string, handler: string, limit: { max: number; durationMs: number }, signal?: AbortSignal,
): Promise<void> {
  while (!signal?.aborted) {
    const window = Math.floor(Date.now() / limit.durationMs);
    const key = keys.rateLimit(prefix, handler, window);
    const [[, count] = []] = (await redis.multi().incr(key).pexpire(key, limit.durationMs * 2).exec()) ?? [];
    if (Number(count) <= limit.max) return;
    await sleep(Math.max(1, (window + 1) * limit.durationMs - Date.now()), signal);
  }
}
