/**
 * The handler's concurrency, shared by the lanes of all the partitions this consumer owns: a
 * run takes a slot, and a slot given back wakes every lane to start its next ready key.
 */
export class Slots {
  private used = 0;
  private listeners = new Set<() => void>();

  constructor(readonly size: number) {}

  free(): number {
    return this.size - this.used;
  }

  tryTake(): boolean {
    if (this.used >= this.size) return false;
    this.used++;
    return true;
  }

  give(): void {
    this.used--;
    for (const listener of [...this.listeners]) listener();
  }

  /** Calls `listener` whenever a slot is given back; returns the unsubscribe. */
  onFree(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
