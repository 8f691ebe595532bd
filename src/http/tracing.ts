import { httpInstrumentationMiddleware } from "@hono/otel";
import { trace } from "@opentelemetry/api";
import type { MiddlewareHandler } from "hono";

/**
 * A SERVER span per request (`POST /orders`, named by the route pattern), the child of the caller's
 * `traceparent` header when it sends one, and the active span while the request runs, so the events
 * the request writes carry its context. Only installed when an OpenTelemetry SDK is registered
 * (src/telemetry.ts). The query string is left out of `url.full`: search terms can be personal data.
 */
export function traceRequests({ serviceName, version }: { serviceName: string; version: string }): MiddlewareHandler {
  const instrument = httpInstrumentationMiddleware({ serviceName, serviceVersion: version, captureActiveRequests: false });
  return async function traceRequest(c, next) {
    return instrument(c, async () => {
      const span = trace.getActiveSpan();
      const url = c.req.url;
      const query = url.indexOf("?");
      if (query >= 0) span?.setAttribute("url.full", url.slice(0, query));
      await next();
      // Set by the request-id middleware further in: ties the trace to the response header and the log lines.
      const requestId = c.res.headers.get("x-request-id");
      if (requestId) span?.setAttribute("orderstream.request_id", requestId);
    });
  };
}
