import type { Context, MiddlewareHandler } from "hono";

/**
 * Refuses a request body larger than `maxBytes` with `onError`. A declared Content-Length is
 * checked before anything is read. A chunked body is read by the runtime in one native call,
 * never chunk by chunk in JavaScript: hono's bodyLimit reads it with a reader loop that costs
 * ~25 µs of event-loop time per chunk, so one client dripping 1 MiB in 1-byte chunks stalled
 * every other request (and /health/live) for about 25 s. What the native read may buffer is
 * bounded by Bun.serve's `maxRequestBodySize`; a body past it is refused here too.
 */
export function bodyLimit({ maxBytes, onError }: { maxBytes: number; onError: (c: Context) => Response }): MiddlewareHandler {
  return async function limitBody(c, next) {
    const raw = c.req.raw;
    if (!raw.body) return next();
    const declared = raw.headers.get("content-length");
    if (declared !== null && !raw.headers.has("transfer-encoding")) {
      return Number(declared) > maxBytes ? onError(c) : next();
    }
    let body: ArrayBuffer;
    try {
      body = await raw.arrayBuffer();
    } catch {
      // The runtime's own limit, or a client that went away mid-body: nothing to process either way.
      return onError(c);
    }
    if (body.byteLength > maxBytes) return onError(c);
    c.req.raw = new Request(raw, { body });
    return next();
  };
}
