/**
 * The engine's Redis key layout and reply shapes, as far as the console reads them. The engine's
 * entrance (src/engine/index.ts) does not export its `keys`, so these four are written out here
 * once; they MUST match src/engine/redis/keys.ts (test/console-reads.test.ts compares them). When
 * the entrance exports them, import them instead.
 */
export const engineKeys = {
  stream: (prefix: string, eventType: string) => `${prefix}:${eventType}`,
  /** Held (SET PX) by the process that consumes under this name while it runs; value "host|boot|pidns|pid|token". */
  consumerName: (prefix: string, name: string) => `${prefix}:consumer:${name}`,
  consumerNamePattern: (prefix: string) => `${prefix}:consumer:*`,
  /** Hash: pending entry id -> failed attempts so far. */
  failures: (prefix: string, handler: string, eventType: string) => `${prefix}:failures:${handler}:${eventType}`,
  /** JSON {runId, recoveredAt, by}, written when Redis was last brought in line with the outbox. */
  epoch: (prefix: string) => `${prefix}:epoch`,
};

export type Replies = [Error | null, unknown][];

/** A flat [name, value, name, value] reply (XINFO) as an object. */
export function pairs(flat: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = flat[i + 1];
  return out;
}

/** The epoch ms a stream entry id was added at ("1712345678901-0"). */
export const idTime = (id: string) => Number(id.split("-")[0]);

/** Stream entry ids in order: negative when a comes first. */
export function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split("-").map(Number);
  const [bm = 0, bs = 0] = b.split("-").map(Number);
  return am - bm || as - bs;
}
