/**
 * Thrown by a handler when retrying cannot help (bad data, a business rule that will never pass):
 * the entry goes to the dead-letter stream at once. Checked by `name` as well as `instanceof`,
 * so an error from another copy of this module still counts.
 */
export class UnrecoverableError extends Error {
  override name = "UnrecoverableError";
}

export function isUnrecoverable(err: unknown): boolean {
  return err instanceof UnrecoverableError || (err instanceof Error && err.name === "UnrecoverableError");
}

/** Coerces anything thrown into an Error, at each catch boundary. */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  if (typeof thrown === "string") return new Error(thrown);
  try {
    return new Error(JSON.stringify(thrown));
  } catch {
    return new Error(String(thrown));
  }
}

/** True when `err` or one of the errors it wraps (`cause`, a few levels deep) passes `test`. */
export function someCause(err: unknown, test: (e: Error) => boolean): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) if (test(e)) return true;
  return false;
}
