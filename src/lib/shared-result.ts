/**
 * `compute`, shared by its callers: a call while a computation runs gets that computation's
 * promise, and a result is reused for `ttlMs` after it settles. However many callers come at once,
 * `compute` runs at most once at a time and, with `ttlMs` > 0, at most once per `ttlMs`. A rejection
 * is shared by the callers waiting for it, but never reused.
 */
export function sharedResult<T>(compute: () => Promise<T>, ttlMs: number): () => Promise<T> {
  let running: Promise<T> | null = null;
  let last: { value: T; at: number } | null = null;
  return () => {
    if (last && performance.now() - last.at < ttlMs) return Promise.resolve(last.value);
    running ??= compute()
      .then((value) => {
        last = { value, at: performance.now() };
        return value;
      })
      .finally(() => (running = null));
    return running;
  };
}
