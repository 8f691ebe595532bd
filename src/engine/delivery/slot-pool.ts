/**
 * The transactions one handler runs at once in this process (its `concurrency`), shared by the
 * loops of all the partitions of its event type (an ordered handler's lanes too): more
 * partitions spread the work, they do not multiply it.
 */
export class SlotPool {
  /** Transactions running. */
  private running = 0;
  /** Batches dispatched (read or claimed) and waiting for a slot: they count against what may be read. */
  private queued = 0;
  private readonly waiters = new Set<() => void>();
  private readonly listeners = new Set<() => void>();
  /** The loops with redeliveries due while every slot was busy. */
  private readonly owed = new Set<object>();
  /** Read loops sharing the pool: one per partition read. */
  private readers = 0;

  constructor(readonly capacity: number) {}

  /** Slots neither running nor promised to a batch already dispatched (negative when over-read). */
  free(): number {
    return this.capacity - this.running - this.queued;
  }

  /** A batch was dispatched: it will run when a slot is free. */
  queue(): void {
    this.queued++;
  }

  /**
   * Waits until a slot is free to run a queued batch and takes it; false (the batch leaves the
   * queue without a slot) when `stopping()` says to give up.
   */
  async start(stopping: () => boolean): Promise<boolean> {
    while (this.running >= this.capacity && !stopping()) await this.changed();
    this.queued--;
    if (stopping()) {
      this.wakeAll();
      return false;
    }
    this.running++;
    return true;
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

  /** A partition's read loop shares the pool from now on; returns its leave(). */
  joinReader(): () => void {
    this.readers++;
    let left = false;
    return () => {
      if (!left) this.readers--;
      left = true;
    };
  }

  /**
   * The slots one read loop reads for: its share of freeForReads (at least one). The partitions'
   * loops read at the same moment, each blocked on its own stream: asking each for every free slot
   * had a machine take several times what it can run, leaving other machines idle and, when it
   * died, the surplus stranded for CLAIM_IDLE_MS. A busy partition still fills the slots the others
   * leave, one read after another.
   */
  readShare(): number {
    const free = this.freeForReads();
    return free <= 0 ? 0 : Math.max(1, Math.ceil(free / Math.max(1, this.readers)));
  }

  /** Takes a slot if one is free. */
  tryTake(): boolean {
    if (this.free() <= 0) return false;
    this.running++;
    return true;
  }

  /** Calls `listener` whenever a slot is given back; returns the unsubscribe. */
  onFree(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  give(): void {
    this.running--;
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
