/**
 * The transactions one handler runs at once in this process (its `concurrency`), shared by the
 * loops of all the partitions of its event type (an ordered handler's lanes too): more
 * partitions spread the work, they do not multiply it.
 */
export class SlotPool {
  private used = 0;
  private readonly waiters = new Set<() => void>();
  private readonly listeners = new Set<() => void>();

  constructor(readonly capacity: number) {}

  free(): number {
    return this.capacity - this.used;
  }

  take(): void {
    this.used++;
  }

  /** Takes a slot if one is free. */
  tryTake(): boolean {
    if (this.used >= this.capacity) return false;
    this.used++;
    return true;
  }

  /** Calls `listener` whenever a slot is given back; returns the unsubscribe. */
  onFree(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  give(): void {
    this.used--;
    this.wakeAll();
    for (const listener of [...this.listeners]) listener();
  }

  /** Resolves at the next give() (or wakeAll()); the caller checks free() again. */
  changed(): Promise<void> {
    return new Promise((resolve) => {
      const waiter = () => {
        this.waiters.delete(waiter);
        resolve();
      };
      this.waiters.add(waiter);
    });
  }

  wakeAll(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}
