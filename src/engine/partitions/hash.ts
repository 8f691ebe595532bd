/**
 * FNV-1a (32 bit) of the key's UTF-8 bytes: stable across processes, versions and machines, so
 * every relay puts a key's events on the same partition for as long as the partition count stays.
 */
export function fnv1a(key: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(key)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** The partition, 0 to count - 1, that `key` falls on. */
export function partitionOf(key: string, count: number): number {
  return count <= 1 ? 0 : fnv1a(key) % count;
}
