import type Redis from "ioredis";
import type { Sql } from "../db/client.ts";
import { isCluster, toError } from "../engine/index.ts";

/** Each dependency read gets this long, so health and scrapes answer within ~2 s when one hangs. */
export const PROBE_TIMEOUT_MS = 1_500;

/**
 * A dependency read's outcome. A failure has `error`, one line without credentials (it may name
 * hosts and ports: for operators), and `reason`, a code safe to show anyone (`ECONNREFUSED`,
 * `timeout`, `unavailable`).
 */
export type Probe<T> = { ok: true; value: T; latencyMs: number } | { ok: false; error: string; reason: string };

/**
 * Runs `read` with its own time limit. Never throws: a failure or a timeout becomes `{ok: false}`
 * with a message safe to show (credentials in URLs are masked). A read that timed out keeps
 * running in the background until its client gives up (postgres.js connect_timeout, ioredis retries).
 */
export async function probe<T>(read: () => Promise<T>, timeoutMs = PROBE_TIMEOUT_MS): Promise<Probe<T>> {
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ProbeTimeout(timeoutMs)), timeoutMs);
  });
  try {
    const value = await Promise.race([read(), timedOut]);
    return { ok: true, value, latencyMs: Math.round(performance.now() - started) };
  } catch (thrown) {
    return { ok: false, error: describeError(thrown), reason: publicReason(thrown) };
  } finally {
    clearTimeout(timer);
  }
}

class ProbeTimeout extends Error {
  override name = "ProbeTimeout";
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
  }
}

/** One line about a failure, without credentials: `ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:5432`. */
export function describeError(thrown: unknown): string {
  const err = toError(thrown);
  const code = (err as { code?: unknown }).code;
  const text = typeof code === "string" && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  return redactSecrets(text).slice(0, 300);
}

/**
 * Why a dependency read failed, in words that name no host, port, user or query: the error's code
 * (`ECONNREFUSED`, `CONNECT_TIMEOUT`, a SQLSTATE), or its cause's, `timeout`, else `unavailable`.
 */
export function publicReason(thrown: unknown): string {
  if (thrown instanceof ProbeTimeout) return "timeout";
  for (let err: unknown = thrown, depth = 0; err instanceof Error && depth < 3; err = err.cause, depth++) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === "string" && /^[A-Z0-9_]{2,40}$/.test(code)) return code;
  }
  return "unavailable";
}

/** Masks the user-info part of any URL in `text` (`redis://:pw@host` -> `redis://***@host`). */
export function redactSecrets(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, "$1***@");
}

export async function pingPostgres(sql: Sql): Promise<void> {
  await sql`select 1`;
}

export async function pingRedis(redis: Redis): Promise<void> {
  try {
    await redis.ping();
    // A cluster answers PING from any node; it serves every slot only while its state is ok.
    if (isCluster(redis)) {
      const state = /cluster_state:(\w+)/.exec(String(await redis.cluster("INFO")))?.[1];
      if (state !== "ok") throw new Error(`Redis Cluster state is ${state ?? "unknown"}`);
    }
  } catch (thrown) {
    // ioredis' own message ("Reached the max retries per request limit") does not say why.
    const err = toError(thrown);
    throw redis.status === "ready" ? err : new Error(`not connected (${redis.status}): ${err.message}`, { cause: err });
  }
}
