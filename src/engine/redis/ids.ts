/** Replies of a pipeline or MULTI: [error, result] per command. */
export type Replies = [Error | null, unknown][];

/** The epoch ms a stream entry id was added at ("1712345678901-0"). */
export const entryTime = (id: string) => Number(id.split("-")[0]);

/** Orders two stream entry ids (`ms-seq`): negative when a comes first. */
export function compareIds(a: string, b: string): number {
  const [am = 0n, as = 0n] = a.split("-").map((p) => BigInt(p));
  const [bm = 0n, bs = 0n] = b.split("-").map((p) => BigInt(p));
  return am === bm ? (as === bs ? 0 : as < bs ? -1 : 1) : am < bm ? -1 : 1;
}
