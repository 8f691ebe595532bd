import { onInterrupt } from "./cleanup.ts";

/**
 * Counts handled events and settles `done` with performance.now() at the moment the last one is
 * counted, so the timing does not depend on a polling interval. Rejects when nothing was counted
 * for `stallMs`, when a side reports an error (a broken side must fail the run, not hang it) or
 * when the run is interrupted.
 */
export class Completion {
  count = 0;
  /** Set when the run failed; producers stop early. */
  failure: Error | null = null;
  readonly done: Promise<number>;
  private resolve!: (at: number) => void;
  private reject!: (err: Error) => void;
  private lastProgress = performance.now();
  private watchdog: ReturnType<typeof setInterval>;
  private settled = false;
  private unsubscribe: () => void;

  constructor(readonly target: number, readonly what: string, stallMs: number) {
    this.done = new Promise<number>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.done.catch(() => {}); // observed by the caller's await; never an unhandled rejection
    this.watchdog = setInterval(() => {
      if (performance.now() - this.lastProgress > stallMs) {
        this.fail(new Error(`${what}: no progress for ${stallMs} ms, ${this.count} of ${target} handled`));
      }
    }, 250);
    this.unsubscribe = onInterrupt((err) => this.fail(err));
    if (target === 0) this.settle(() => this.resolve(performance.now()));
  }

  hit(n = 1): void {
    const before = this.count;
    this.count += n;
    this.lastProgress = performance.now();
    if (before < this.target && this.count >= this.target) {
      const at = performance.now();
      this.settle(() => this.resolve(at));
    }
  }

  fail(err: Error): void {
    this.failure ??= err;
    this.settle(() => this.reject(err));
  }

  /** Stops the watchdog; call once the waiting is over, whatever the outcome. */
  dispose(): void {
    clearInterval(this.watchdog);
    this.unsubscribe();
  }

  private settle(fn: () => void): void {
    if (this.settled) return;
    this.settled = true;
    clearInterval(this.watchdog);
    fn();
  }
}
