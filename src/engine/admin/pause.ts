import type Redis from "ioredis";
import { keys } from "../redis/keys.ts";

/** Who paused a handler and when. */
export interface PauseInfo {
  /** ISO 8601. */
  since: string;
  by: string;
}

/**
 * Pauses `handler` on every machine: the flag lives in Redis, so the whole fleet shares it. A
 * handler already paused keeps its first `since` and `by` (HSETNX), so pausing twice is safe.
 * Returns the flag as stored.
 */
export async function pauseHandler(redis: Redis, prefix: string, handler: string, by: string, now = new Date()): Promise<PauseInfo> {
  const key = keys.paused(prefix);
  const info: PauseInfo = { since: now.toISOString(), by };
  if ((await redis.hsetnx(key, handler, JSON.stringify(info))) === 1) return info;
  return parsePause(await redis.hget(key, handler)) ?? info;
}

/** Clears the flag; true when the handler was paused. Safe to call twice. */
export async function resumeHandler(redis: Redis, prefix: string, handler: string): Promise<boolean> {
  return (await redis.hdel(keys.paused(prefix), handler)) === 1;
}

/** Every paused handler (one HGETALL). A value written by hand that is not our JSON still counts as paused. */
export async function readPausedHandlers(redis: Redis, prefix: string): Promise<Map<string, PauseInfo>> {
  const raw = await redis.hgetall(keys.paused(prefix));
  return new Map(Object.entries(raw).map(([handler, value]) => [handler, parsePause(value) ?? { since: "", by: "" }]));
}

function parsePause(value: string | null): PauseInfo | null {
  if (value === null) return null;
  try {
    const parsed = JSON.parse(value) as Partial<PauseInfo>;
    return { since: String(parsed.since ?? ""), by: String(parsed.by ?? "") };
  } catch {
    return null;
  }
}
