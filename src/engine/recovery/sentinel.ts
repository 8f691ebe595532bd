import type Redis from "ioredis";
import { keys } from "../redis/keys.ts";

/** What `<prefix>:epoch` holds: written once Redis was brought in line with the outbox. */
export interface Sentinel {
  /** The Redis server's run id then; another one now means it restarted and may have lost writes. */
  runId: string | null;
  recoveredAt: string;
  /** The consumer name of the process that wrote it. */
  by: string;
}

/** The sentinel, or null when Redis does not have it (it lost its data, or never had it). */
export async function readSentinel(redis: Redis, prefix: string): Promise<Sentinel | null> {
  const raw = await redis.get(keys.epoch(prefix));
  if (raw === null) return null;
  try {
    const parsed = JSON.parse(raw) as Partial<Sentinel>;
    return { runId: typeof parsed.runId === "string" ? parsed.runId : null, recoveredAt: String(parsed.recoveredAt ?? ""), by: String(parsed.by ?? "") };
  } catch {
    return { runId: null, recoveredAt: "", by: "" }; // written by hand: present, nothing to compare
  }
}

/** Writes the sentinel, with no TTL: it must disappear only with the data it vouches for. */
export async function writeSentinel(redis: Redis, prefix: string, sentinel: Sentinel): Promise<void> {
  await redis.set(keys.epoch(prefix), JSON.stringify(sentinel));
}

/**
 * Makes the next check recover: called when a consumer group was found missing, which Redis
 * losing data explains. Any machine's watcher then redoes the whole recovery, crash-safe.
 */
export async function dropSentinel(redis: Redis, prefix: string): Promise<void> {
  await redis.del(keys.epoch(prefix));
}

/** The Redis server's run id (new after every restart), or null where INFO is not available. */
export async function readRunId(redis: Redis): Promise<string | null> {
  const info = await redis.info("server").catch(() => "");
  return /^run_id:([0-9a-f]+)/m.exec(info)?.[1] ?? null;
}
