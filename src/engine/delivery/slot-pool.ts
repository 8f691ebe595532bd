/**
 * The transactions one handler runs at once in this process (its `concurrency`), shared by the
 * read loops of all the partitions of its event type: more partitions spread the work, they do
 * not multiply it.
 */
export class SlotPool {
  private used = 0;
  private readonly waiters = new Set<() => void>();

  constructor(readonly capacity: number) {}

  free(): number {
    return this.capacity - this.used;
  }

  take(): void {
    this.used++;
  }

  give(): void {
    this.used--;
    this.wakeAll();
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
