// Sending hostile requests and judging the answers: a 4xx with the one error shape, the request id
// echoed, no stack trace and no secret; and a snapshot of everything the service could write.
import type { Database } from "../../src/db/client.ts";
import type Redis from "ioredis";
import type { HostileCase } from "./cases.ts";
import { SEED } from "./values.ts";

/** Every table the service writes. */
export const TABLES = [
  "outbox", "orders", "order_items", "products", "payments", "refunds", "webhook_payloads",
  "dead_letters", "idempotency_keys", "notifications", "tenant_stats", "processed_events", "api_keys",
] as const;

const CODES: Record<number, string[]> = {
  400: ["validation_failed"], 401: ["unauthorized", "invalid_signature"], 403: ["forbidden"], 404: ["not_found"], 405: ["not_found"],
  409: ["conflict", "idempotency_key_reused", "price_changed"], 413: ["payload_too_large"],
};

const STACK = [/^\s+at\s/m, /\bat\s+\S+\s+\(/, /[\w/.-]+\.(ts|js|mjs):\d+/, /node_modules/, /\/work\//, /\bsrc\//, /Error:\s/];

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

/** What is wrong with `answer` for `c`, or null when it is right. */
export function judge(c: HostileCase, answer: Answer, secrets: string[]): string | null {
  const { status, headers, text } = answer;
  const excerpt = text.slice(0, 300);
  if (!c.expect.includes(status)) return `status ${status}, expected ${c.expect.join(" or ")}: ${excerpt}`;
  if (!/^application\/json/.test(headers.get("content-type") ?? "")) return `content-type ${headers.get("content-type")}: ${excerpt}`;
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    return `body is not JSON: ${excerpt}`;
  }
  const e = body?.error;
  if (!e || typeof e !== "object" || Object.keys(body).length !== 1) return `not the error shape: ${excerpt}`;
  if (typeof e.code !== "string" || !e.code || typeof e.message !== "string" || !e.message) return `error without code or message: ${excerpt}`;
  if (!CODES[status]?.includes(e.code)) return `code ${e.code} for status ${status}`;
  const unexpected = Object.keys(e).filter((k) => !["code", "message", "details", "requestId"].includes(k));
  if (unexpected.length) return `unexpected error fields ${unexpected.join(", ")}`;
  if (e.details !== undefined && (!Array.isArray(e.details) || !e.details.every((d: any) => typeof d?.path === "string" && typeof d?.message === "string"))) {
    return `details are not [{path, message}]: ${excerpt}`;
  }
  if (e.code === "unauthorized" && !/^Bearer\b/.test(headers.get("www-authenticate") ?? "")) return "a 401 unauthorized without a WWW-Authenticate: Bearer challenge";
  const requestId = headers.get("x-request-id");
  if (!requestId || e.requestId !== requestId) return `requestId ${e.requestId} but X-Request-Id ${requestId}`;
  for (const pattern of STACK) if (pattern.test(text)) return `looks like a stack trace or path (${pattern}): ${excerpt}`;
  for (const secret of secrets) if (secret && text.includes(secret)) return "a secret is in the body";
  return null;
}

/** A case as a fetch Request init (a fresh stream each time). */
export function requestInit(c: HostileCase): RequestInit {
  const init: RequestInit & { duplex?: string } = { method: c.method, headers: c.headers };
  if (c.body !== undefined) {
    init.body = typeof c.body === "function" ? c.body() : c.body;
    if (typeof c.body === "function") init.duplex = "half";
  }
  return init;
}

/**
 * Sends every case (`parallel` at a time) and returns one line per wrong answer, each naming the
 * case and the seed. `send` may throw: that is a failure too (a dropped connection, a crash).
 */
export async function sendAll(cases: HostileCase[], send: (c: HostileCase) => Promise<Answer>, secrets: string[], parallel = 8): Promise<string[]> {
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const c = cases[next++]!;
      let problem: string | null;
      try {
        problem = judge(c, await send(c), secrets);
      } catch (err) {
        problem = `request failed: ${(err as Error).message}`;
      }
      if (problem) failures.push(`[seed ${SEED}] ${c.name.slice(0, 160)}: ${problem}`);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return failures;
}

export interface Snapshot {
  rows: Record<string, number>;
  /** Redis keys under the prefix with their length (XLEN, HLEN, STRLEN...), locks and heartbeats left out. */
  redis: Record<string, string>;
}

/** Row counts of every table and the state of every Redis key under the prefix. */
export async function snapshot(sql: Database["sql"], redis: Redis, prefix: string): Promise<Snapshot> {
  const rows: Record<string, number> = {};
  for (const t of TABLES) rows[t] = Number((await sql.unsafe(`select count(*)::int as n from "${t}"`))[0]!.n);
  const out: Record<string, string> = {};
  let cursor = "0";
  do {
    const [nextCursor, found] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
    cursor = nextCursor;
    for (const key of found) {
      // Liveness, heartbeats (the catalogs' refresh time, the write counter) and the charts'
      // activity counts (flushed every few seconds from earlier, legitimate work) are not state.
      if (/:(lock|consumer|ratelimit|members|lease|console):|:(catalogs|epoch-seq\{.*)$/.test(key)) continue;
      const type = await redis.type(key);
      out[key] = type === "stream" ? `stream ${await redis.xlen(key)}` : type === "hash" ? `hash ${JSON.stringify(await redis.hgetall(key))}` : type;
    }
  } while (cursor !== "0");
  return { rows, redis: Object.fromEntries(Object.entries(out).sort()) };
}
