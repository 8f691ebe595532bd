import type Redis from "ioredis";
import { toError } from "../support/errors.ts";
import type { Logger } from "../support/logger.ts";
import { setIdle } from "../redis/scripts.ts";

/**
 * Owns the idle times of the entries this consumer holds. An entry becomes claimable by any
 * consumer's XAUTOCLAIM once idle for `claimIdleMs`, so:
 * - entries being worked on are touched every third of that (XCLAIM JUSTID: no delivery counted),
 *   so a slow handler is never run twice at once, while a dead consumer's entries go idle;
 * - a failed entry's idle time is set so it crosses `claimIdleMs` exactly when its backoff ends
 *   (entries with a longer backoff are kept fresh until then).
 * Every claim goes through one queue so a refresh can never undo a release. A held entry found
 * deleted from the stream is recorded in the `orphans` set in the same step, to be recovered from
 * the outbox rather than lost.
 */
export class ClaimKeeper {
  private held = new Set<string>();
  private waiting = new Map<string, number>();
  private queue: Promise<unknown> = Promise.resolve();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private redis: Redis,
    private stream: string,
    private group: string,
    private consumer: string,
    private claimIdleMs: number,
    private orphans: string,
    private log: Logger,
    /** Called when entries were found deleted and recorded as orphans. */
    private onOrphaned: () => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.refresh(), Math.max(20, Math.floor(this.claimIdleMs / 3)));
  }

  /** The entry is being worked on: keep it from going idle. */
  hold(id: string): void {
    this.held.add(id);
  }

  /** Done with the entry (acked or dead-lettered): nothing more to keep. */
  forget(id: string): void {
    this.held.delete(id);
  }

  /**
   * Leaves the entry pending and makes it claimable once `delayMs` has passed. With `deliveries`,
   * the entry's delivery count is set back to it, so a delivery that never reached the handler
   * does not use up one of its attempts.
   */
  release(id: string, delayMs: number, deliveries?: number): Promise<void> {
    return this.enqueue(async () => {
      this.held.delete(id);
      if (delayMs > this.claimIdleMs) {
        this.waiting.set(id, Date.now() + delayMs);
        await this.setIdle([id], 0, deliveries);
        return;
      }
      await this.setIdle([id], this.claimIdleMs - delayMs, deliveries);
    });
  }

  /** On shutdown: what is still running becomes claimable now, what waits for a retry at its time. */
  async handOver(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.enqueue(async () => {
      const now = Date.now();
      await this.setIdle([...this.held], this.claimIdleMs);
      for (const [id, due] of this.waiting) await this.setIdle([id], Math.max(0, this.claimIdleMs - (due - now)));
      this.held.clear();
      this.waiting.clear();
    }).catch((thrown) => this.log.warn("could not hand entries over; they go idle on their own", { err: toError(thrown) }));
  }

  private refresh(): Promise<void> {
    return this.enqueue(async () => {
      const now = Date.now();
      const fresh = [...this.held];
      for (const [id, due] of this.waiting) {
        if (due - now > this.claimIdleMs) {
          fresh.push(id);
        } else {
          this.waiting.delete(id);
          await this.setIdle([id], this.claimIdleMs - Math.max(0, due - now));
        }
      }
      await this.setIdle(fresh, 0);
    }).catch((thrown) => this.log.warn("could not refresh held entries", { err: toError(thrown) }));
  }

  private async setIdle(ids: string[], idleMs: number, deliveries?: number): Promise<void> {
    // Acked entries are not in the PEL and are left alone.
    const orphaned = await setIdle(this.redis, this.stream, this.orphans, this.group, this.consumer, ids, idleMs, deliveries);
    if (orphaned > 0) this.onOrphaned();
  }

  private enqueue(op: () => Promise<void>): Promise<void> {
    const next = this.queue.then(op);
    this.queue = next.catch(() => {});
    return next;
  }
}
