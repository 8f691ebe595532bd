/**
 * A handler's transaction that refuses every statement once its run has ended. Without it, a
 * handler that outlives its timeout keeps sending statements on the connection: those queued after
 * the engine's ROLLBACK run in autocommit, or in the next transaction on that connection, and the
 * retry then applies the effect a second time.
 *
 * drizzle sends every statement of a transaction through its session's postgres.js client
 * (`session.client`, also for savepoints and for builders made before the end), so that client is
 * wrapped. The statement in flight when the run ends is cancelled through postgres.js' own cancel
 * request (its own socket: it needs no connection from the pool, which may be full).
 */
export interface GuardedTransaction<T> {
  tx: T;
  /** Refuses every later statement; resolves once the statement in flight (if any) is cancelled on the server. */
  end(): Promise<void>;
}

interface Cancellable {
  cancel(): Promise<unknown> | unknown;
}

interface GuardState {
  ended: boolean;
  inFlight: Set<Cancellable>;
}

export class TransactionEndedError extends Error {
  override name = "TransactionEndedError";
  constructor() {
    super("this handler run has ended (timed out or finished): its transaction takes no more statements");
  }
}

export function guardTransaction<T extends object>(tx: T): GuardedTransaction<T> {
  const session = (tx as unknown as { session?: { client?: unknown } }).session;
  if (!session?.client) throw new Error("not a drizzle postgres.js transaction: cannot guard it");
  const state: GuardState = { ended: false, inFlight: new Set() };
  session.client = guardClient(session.client as object, state);
  return {
    tx,
    async end() {
      state.ended = true;
      await Promise.all([...state.inFlight].map((q) => Promise.resolve(q.cancel()).catch(() => {})));
    },
  };
}

function guardClient<C extends object>(client: C, state: GuardState): C {
  const check = () => {
    if (state.ended) throw new TransactionEndedError();
  };
  const track = (result: unknown) => {
    if (result instanceof Promise && typeof (result as Partial<Cancellable>).cancel === "function") {
      const query = result as Promise<unknown> & Cancellable;
      state.inFlight.add(query);
      // Promise's own then, not the query's: a postgres.js query runs when its then is first called,
      // and drizzle still sets options (values()) on it after this returns.
      const settled = () => void state.inFlight.delete(query);
      Promise.prototype.then.call(query, settled, settled);
    }
    return result;
  };
  return new Proxy(client, {
    // The client is also a tagged-template function: sql`...`.
    apply(target, thisArg, args) {
      check();
      return track(Reflect.apply(target as (...a: unknown[]) => unknown, thisArg, args));
    },
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== "function") return value;
      if (prop === "savepoint") {
        // Statements inside a savepoint go through the savepoint's own client: guard it too.
        return (...args: unknown[]) => {
          check();
          const fn = args[args.length - 1] as (c: object) => unknown;
          return (value as (...a: unknown[]) => unknown).call(target, ...args.slice(0, -1), (inner: object) => fn(guardClient(inner, state)));
        };
      }
      return (...args: unknown[]) => {
        check();
        return track((value as (...a: unknown[]) => unknown).apply(target, args));
      };
    },
  });
}
