/**
 * The transactions one handler runs at once in this process (its `concurrency`), shared by the
 * loops of all the partitions of its event type (an ordered handler's lanes too): more
 * partitions spread the work, they do not multiply it.
 */
export class SlotPool {
  private used = 0;
  private readonly waiters = new Set<() => void>();
  private readonly listeners = new Set<() => void>();
  /** The loops with redeliveries due while every slot was busy. */
  private readonly owed = new Set<object>();

  constructor(readonly capacity: number) {}

  free(): number {
    return this.capacity - this.used;
  }

  take(): void {
    this.used++;
  }

  /**
   * Marks (or clears) `loop` as having redeliveries due (retries whose backoff passed, a dead
   * consumer's entries) while every slot was busy. While any loop is marked, reads leave the next
   * free slot to the redeliveries, of whichever partition: under steady load they would otherwise
   * wait behind new entries of the other partitions for as long as the load lasts.
   */
  setOwed(loop: object, owed: boolean): void {
    if (owed) this.owed.add(loop);
    else this.owed.delete(loop);
  }

  /** Free slots for reading new entries: one fewer while redeliveries are owed. */
  freeForReads(): number {
    return this.free() - (this.owed.size > 0 ? 1 : 0);
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
