import { fnv1a } from "../partitions/hash.ts";

/**
 * Which live member should own `partition`: rendezvous (highest random weight) hashing of
 * (partition, member). Every member computes the same answer from the same member list without
 * talking to the others, and a member joining or leaving moves only the partitions it wins or
 * held: about 1/n of them.
 */
export function ownerOf(partition: number, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1;
  for (const m of members) {
    const w = mix(fnv1a(`${m}\u0000${partition}`));
    if (w > bestWeight || (w === bestWeight && best !== undefined && m < best)) {
      best = m;
      bestWeight = w;
    }
  }
  return best;
}

/** The partitions of `partitions` that `me` should own among `members`. */
export function fairShare(me: string, partitions: readonly number[], members: readonly string[]): number[] {
  return partitions.filter((p) => ownerOf(p, members) === me);
}

// FNV-1a alone clusters for names that differ in their last characters (worker-1, worker-2);
// a finaliser (murmur3's fmix32) spreads the weights.
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}
