// Everything a run creates (databases, Redis keys, connections, children) registers its undo here,
// so a failure, Ctrl-C or SIGTERM leaves nothing behind on a machine other people share.

type Undo = () => unknown;
interface Entry {
  name: string;
  undo: Undo;
}

const stack: Entry[] = [];
const UNDO_TIMEOUT_MS = 15_000;

/** Registers `undo`; the returned function runs it now (once) and unregisters it. */
export function deferCleanup(name: string, undo: Undo): () => Promise<void> {
  const entry = { name, undo };
  stack.push(entry);
  return async () => {
    const i = stack.indexOf(entry);
    if (i < 0) return;
    stack.splice(i, 1);
    await runUndo(entry);
  };
}

/** Runs every registered undo, newest first (children and connections before their database). */
export async function cleanupAll(): Promise<void> {
  for (let entry = stack.pop(); entry; entry = stack.pop()) await runUndo(entry);
}

let interrupted: { signal: NodeJS.Signals; code: number } | null = null;
const interruptListeners = new Set<(err: Error) => void>();

/** The signal that interrupted the run, if one did. */
export function interruption(): { signal: NodeJS.Signals; code: number } | null {
  return interrupted;
}

/** Calls `listener` when the run is interrupted, or at once if it was (a waiting measurement fails); returns the unsubscribe. */
export function onInterrupt(listener: (err: Error) => void): () => void {
  if (interrupted) listener(new Error(`interrupted by ${interrupted.signal}`));
  interruptListeners.add(listener);
  return () => interruptListeners.delete(listener);
}

/** Throws once the run was interrupted: nothing new may be created while cleaning up. */
export function throwIfInterrupted(): void {
  if (interrupted) throw new Error(`interrupted by ${interrupted.signal}`);
}

/**
 * SIGINT and SIGTERM fail whatever is being measured, so the run unwinds through its normal error
 * path (each scenario disposing what it made, in order, then the cleanup stack) and exits 130 / 143.
 * If that takes over 20 s, or on a second signal, the cleanup stack runs at once and the process exits.
 */
export function exitCleanlyOnSignals(): void {
  const onSignal = (signal: NodeJS.Signals, code: number) => {
    if (interrupted) {
      void cleanupAll().finally(() => process.exit(code));
      return;
    }
    interrupted = { signal, code };
    console.error(`\n${signal}: stopping and cleaning up (databases, Redis keys, children)...`);
    const err = new Error(`interrupted by ${signal}`);
    for (const listener of interruptListeners) listener(err);
    setTimeout(() => void cleanupAll().finally(() => process.exit(code)), 20_000).unref();
  };
  process.on("SIGINT", () => onSignal("SIGINT", 130));
  process.on("SIGTERM", () => onSignal("SIGTERM", 143));
}

async function runUndo({ name, undo }: Entry): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      Promise.resolve().then(undo),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${UNDO_TIMEOUT_MS} ms`)), UNDO_TIMEOUT_MS))),
    ]);
  } catch (err) {
    console.error(`cleanup of ${name} failed: ${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}
