import { randomUUID } from "node:crypto";
import type Redis from "ioredis";
import type { Q } from "../db.ts";
import { keys } from "../redis/keys.ts";

/** What `<prefix>:epoch` holds: written once Redis was brought in line with the outbox. */
export interface Sentinel {
  /** The Redis server's run id then; another one now means it restarted and may have lost writes. */
  runId: string | null;
  recoveredAt: string;
  /** The consumer name of the process that wrote it. */
  by: string;
}

function parseSentinel(raw: string | null): Sentinel | null {
  if (raw === null) return null;
  try {
    const parsed = JSON.parse(raw) as Partial<Sentinel>;
    return { runId: typeof parsed.runId === "string" ? parsed.runId : null, recoveredAt: String(parsed.recoveredAt ?? ""), by: String(parsed.by ?? "") };
  } catch {
    return { runId: null, recoveredAt: "", by: "" }; // written by hand: present, nothing to compare
  }
}

/**
 * One check's look at Redis, in one round trip: the sentinel, and the write counter after this
 * check's increment. The counter only grows while Redis keeps every write; a failover to a replica
 * that missed the last ones, or a restore, sets it back, which a process notices as a value no
 * higher than the one it saw before. That needs no INFO, which managed Redis services may refuse.
 */
export async function observeRedis(redis: Redis, prefix: string): Promise<{ sentinel: Sentinel | null; seq: number }> {
  const replies = await redis.multi().get(keys.epoch(prefix)).incr(keys.epochSeq(prefix)).exec();
  if (!replies) throw new Error("the sentinel check was discarded");
  const [[getErr, raw] = [], [incrErr, seq] = []] = replies;
  if (getErr || incrErr) throw getErr ?? incrErr;
  return { sentinel: parseSentinel(raw as string | null), seq: Number(seq) };
}

/**
 * The start of a recovery: a token in Redis that only this recovery wrote. If Redis loses its
 * data again while the recovery runs, the token goes with it, and the sentinel is not written.
 */
export async function beginRecovery(redis: Redis, prefix: string): Promise<string> {
  const token = randomUUID();
  await redis.set(keys.recoveryNonce(prefix), token);
  return token;
}

/** KEYS[1] the token, KEYS[2] the sentinel (one slot): writes ARGV[2] and drops the token if it is ARGV[1]. */
export const FINISH_IF_TOKEN = `
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('set', KEYS[2], ARGV[2])
redis.call('del', KEYS[1])
return 1`;

/**
 * Writes the sentinel, with no TTL (it must disappear only with the data it vouches for), if and
 * only if this recovery's token is still there: false means Redis lost data during the recovery
 * and the work must be done again.
 */
export async function finishRecovery(redis: Redis, prefix: string, token: string, sentinel: Sentinel): Promise<boolean> {
  return (await redis.eval(FINISH_IF_TOKEN, 2, keys.recoveryNonce(prefix), keys.epoch(prefix), token, JSON.stringify(sentinel))) === 1;
}

/** The Redis server's run id (new after every restart), or null where INFO is not available. */
export async function readRunId(redis: Redis): Promise<string | null> {
  const info = await redis.info("server").catch(() => "");
  return /^run_id:([0-9a-f]+)/m.exec(info)?.[1] ?? null;
}

/** True when this prefix's Redis was brought in line with the outbox before (so a missing sentinel is data loss). */
export async function hadSentinel(q: Q, prefix: string): Promise<boolean> {
  return (await q`select 1 from engine_state where prefix = ${prefix}`).length > 0;
}

/** Records in PostgreSQL that a sentinel was written for this prefix. */
export async function recordSentinel(q: Q, prefix: string): Promise<void> {
  await q`
    insert into engine_state (prefix) values (${prefix})
    on conflict (prefix) do update set last_sentinel_at = now()`;
}
