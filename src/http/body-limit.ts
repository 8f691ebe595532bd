import type { Context, MiddlewareHandler } from "hono";

// A read smaller than this is a client sending small chunks (or a drip); after a few of them the
// reader waits GATHER_MS between reads so the runtime gathers what follows into one read.
const SMALL_READ = 16 * 1024;
const SMALL_READS_BEFORE_GATHERING = 8;
const GATHER_MS = 5;
// The body is copied into a buffer of its own, which starts at this size and grows fourfold.
const FIRST_BUFFER = 64 * 1024;

/**
 * Refuses a request body larger than `maxBytes` with `onError`. A declared Content-Length is
 * checked before anything is read. A chunked body is read as it streams and cut off as soon as it
 * passes `maxBytes`: the rest is never read, so a request holds at most `maxBytes` (plus what the
 * runtime read ahead, bounded by Bun.serve's `maxRequestBodySize`, see service.ts).
 *
 * Reading a stream costs ~35 µs of event-loop time per read, and a read returns one HTTP chunk:
 * a client dripping 1 MiB in 1-byte chunks used to stall every other request for ~35 s. So once a
 * body has come in small reads, the reader pauses a few ms between reads, and the runtime, which
 * keeps parsing natively meanwhile, hands over everything that arrived in one read: the same drip
 * now takes a dozen reads (~1 ms of event-loop time). Ordinary bodies arrive in large reads and
 * never wait. Each piece is copied at once into one buffer: a piece the runtime hands over keeps
 * a much larger native buffer alive: holding the pieces of 60 uploads cut off at 1 MiB took
 * ~310 MB, copying them ~150 MB.
 */
export function bodyLimit({ maxBytes, onError }: { maxBytes: number; onError: (c: Context) => Response }): MiddlewareHandler {
  return async function limitBody(c, next) {
    const raw = c.req.raw;
    if (!raw.body) return next();
    const declared = raw.headers.get("content-length");
    if (declared !== null && !raw.headers.has("transfer-encoding")) {
      return Number(declared) > maxBytes ? onError(c) : next();
    }
    const body = await readAtMost(raw.body, maxBytes);
    if (body === null) return onError(c);
    c.req.raw = new Request(raw, { body });
    return next();
  };
}

/**
 * The whole stream, or null once it passes `maxBytes` (the stream is then cancelled) or fails
 * (a client that went away, the runtime's own limit): there is nothing to process either way.
 */
async function readAtMost(stream: ReadableStream<Uint8Array>, maxBytes: number): Promise<Uint8Array | null> {
  const reader = stream.getReader();
  let buffer = new Uint8Array(Math.min(FIRST_BUFFER, maxBytes));
  let size = 0;
  let smallReads = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (size + value.byteLength > maxBytes) {
        void reader.cancel().catch(() => {});
        return null;
      }
      if (size + value.byteLength > buffer.byteLength) {
        const grown = new Uint8Array(Math.min(maxBytes, Math.max(buffer.byteLength * 4, size + value.byteLength)));
        grown.set(buffer.subarray(0, size));
        buffer = grown;
      }
      buffer.set(value, size);
      size += value.byteLength;
      if (value.byteLength < SMALL_READ && ++smallReads > SMALL_READS_BEFORE_GATHERING) await Bun.sleep(GATHER_MS);
    }
  } catch {
    return null;
  }
  return buffer.subarray(0, size);
}
