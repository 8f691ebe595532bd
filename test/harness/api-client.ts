// An HTTP client for a fleet: requests go round-robin over the processes that are up, at most
// `concurrency` at once, over keep-alive connections (Bun's fetch pools them). A request that fails
// on the network or with a 5xx is sent again to the next process: every request the workload
// sends is safe to repeat (Idempotency-Key, paymentId, one cancellation per order).

export interface ApiResponse {
  status: number;
  body: any;
  /** How many times it was sent (1 unless a process went away or answered 5xx). */
  attempts: number;
}

export interface ApiClient {
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse>;
  stats(): ApiClientStats;
}

export interface ApiClientStats {
  requests: number;
  retries: number;
  p50Ms: number;
  p99Ms: number;
  /** Attempts by outcome: the HTTP status, or `network` for a request that got no answer. */
  outcomes: Record<string, number>;
}

export interface ApiClientOptions {
  /** Base URLs of the processes currently up; read on every attempt, so restarts are picked up. */
  endpoints: () => string[];
  concurrency?: number;
  /** Give up on one request after this long (a fleet that never comes back is a failure). */
  timeoutMs?: number;
}

export function createApiClient({ endpoints, concurrency = 32, timeoutMs = 60_000 }: ApiClientOptions): ApiClient {
  const limit = createLimiter(concurrency);
  let next = 0;
  let requests = 0;
  let retries = 0;
  const latencies: number[] = [];
  const outcomes: Record<string, number> = {};
  const count = (outcome: string) => (outcomes[outcome] = (outcomes[outcome] ?? 0) + 1);

  const sendOnce = async (base: string, method: string, path: string, body: unknown, headers: Record<string, string>) => {
    const init: RequestInit = { method, headers: { ...headers }, signal: AbortSignal.timeout(15_000) };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)["content-type"] = "application/json";
    }
    const res = await fetch(base + path, init);
    const text = await res.text();
    // A process SIGKILLed while it answers can leave the status line and headers without the
    // body: that is a lost answer like any network failure (sent again, under the same
    // Idempotency-Key where the request has one), not an empty success.
    const length = Number(res.headers.get("content-length") ?? Number.NaN);
    if ((Number.isFinite(length) && Buffer.byteLength(text) < length) || (text === "" && res.status !== 204)) {
      throw new Error(`${res.status} answer cut off after ${Buffer.byteLength(text)} bytes`);
    }
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {}
    return { status: res.status, body: parsed };
  };

  return {
    request: (method, path, body, headers = {}) =>
      limit(async () => {
        const until = Date.now() + timeoutMs;
        let lastError = "";
        for (let attempt = 1; ; attempt++) {
          const up = endpoints();
          if (up.length > 0) {
            const base = up[next++ % up.length]!;
            requests++;
            if (attempt > 1) retries++;
            try {
              const sent = performance.now();
              const res = await sendOnce(base, method, path, body, headers);
              latencies.push(performance.now() - sent);
              count(String(res.status));
              if (res.status < 500) return { ...res, attempts: attempt };
              lastError = `${res.status} ${JSON.stringify(res.body)}`;
            } catch (err) {
              count("network");
              lastError = (err as Error).message;
            }
          } else {
            lastError = "no process is up";
          }
          if (Date.now() > until) throw new Error(`${method} ${path} failed for ${timeoutMs} ms, ${attempt} attempts: ${lastError}`);
          await Bun.sleep(Math.min(50 * attempt, 500));
        }
      }),
    stats: () => {
      const sorted = latencies.toSorted((a, b) => a - b);
      return { requests, retries, p50Ms: Math.round(percentile(sorted, 0.5)), p99Ms: Math.round(percentile(sorted, 0.99)), outcomes: { ...outcomes } };
    },
  };
}

/** The `q` quantile (0..1) of values sorted ascending, nearest rank; 0 for none. */
export function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

/** Runs at most `max` of the given functions at once, first come first served. */
export function createLimiter(max: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: (() => void)[] = [];
  return async (fn) => {
    // A finishing run hands its slot straight to the next waiter, so no newcomer slips in between.
    if (active >= max) await new Promise<void>((resolve) => queue.push(resolve));
    else active++;
    try {
      return await fn();
    } finally {
      const waiter = queue.shift();
      if (waiter) waiter();
      else active--;
    }
  };
}
