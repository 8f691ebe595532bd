import type { Hono } from "hono";
import type { Config } from "../config.ts";
import type { Logger } from "../lib/logger.ts";

export interface HttpServers {
  port: number;
  /** The port /metrics listens on alone, when METRICS_PORT is set. */
  metricsPort: number | undefined;
  /**
   * Stops accepting connections and waits for requests in flight, at most `timeoutMs`: a client
   * dripping a body must not hold up SIGTERM. Connections still open then close when the process
   * exits (Bun's `stop(true)` does not close them once a graceful `stop()` has begun).
   */
  stop(timeoutMs: number): Promise<void>;
}

/**
 * Listens on PORT with the API and, with METRICS_PORT, on that port with `metricsApp`.
 *
 * `maxRequestBodySize` is twice MAX_BODY_BYTES: the body limit cuts a chunked body off as it
 * streams (src/http/body-limit.ts), and this bounds how far the runtime may read ahead of it, so
 * a request never holds more than about two limits. A body *declared* larger than this is refused
 * by the runtime before the app sees it, with a 413 of its own (no JSON body); every other body
 * over the limit gets the API's error shape.
 */
export function serveHttp({ app, metricsApp, config, log }: { app: Hono; metricsApp: Hono; config: Config; log: Logger }): HttpServers {
  const api = Bun.serve({ port: config.PORT, fetch: app.fetch, maxRequestBodySize: config.MAX_BODY_BYTES * 2 });
  const metrics = config.METRICS_PORT === undefined ? undefined : Bun.serve({ port: config.METRICS_PORT, fetch: metricsApp.fetch, maxRequestBodySize: 64 * 1024 });
  const servers = metrics ? [api, metrics] : [api];
  return {
    port: api.port!,
    metricsPort: metrics?.port,
    async stop(timeoutMs) {
      const drained = Promise.all(servers.map((s) => s.stop())).then(() => true);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
      const finished = await Promise.race([drained, timedOut]).finally(() => clearTimeout(timer));
      if (!finished) log.warn("HTTP requests still open after SHUTDOWN_TIMEOUT_MS; they end with the process", { pendingRequests: api.pendingRequests });
    },
  };
}
