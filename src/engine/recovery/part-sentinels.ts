import type Redis from "ioredis";
import { keys, slotTag } from "../redis/keys.ts";
import { FINISH_IF_TOKEN } from "./sentinel.ts";

/**
 * A part of Redis that recovery vouches for on its own: one partition of an event type's stream
 * (with its groups, failures, orphans, all in one slot), or the dead-letter copies. In a cluster a
 * shard that loses its data loses whole slots, so it takes some parts with it and leaves the rest.
 */
export type Part = { eventType: string; partition: number } | { deadLetters: true };

const tagOf = (prefix: string, part: Part) => ("deadLetters" in part ? `${prefix}:dlq` : slotTag(prefix, part.eventType, part.partition));

/** How a part is named in logs and reports: `<type>#<partition>`, or `dead letters`. */
export const partName = (part: Part) => ("deadLetters" in part ? "dead letters" : `${part.eventType}#${part.partition}`);

/** Every partition of every type in `counts` (type -> partitions read), and the dead-letter copies. */
export function partsOf(counts: Map<string, number>): Part[] {
  const parts: Part[] = [];
  for (const [eventType, n] of counts) for (let partition = 0; partition < n; partition++) parts.push({ eventType, partition });
  return [...parts, { deadLetters: true }];
}

/**
 * The parts whose sentinel is gone. One EXISTS per part, all sent at once (each to the node that
 * holds its slot, never a command across slots), so a check costs one round trip however many
 * partitions there are.
 */
export async function findMissingParts(redis: Redis, prefix: string, parts: Part[]): Promise<Part[]> {
  const found = await Promise.all(parts.map((p) => redis.exists(keys.slotEpoch(prefix, tagOf(prefix, p)))));
  return parts.filter((_, i) => found[i] === 0);
}

/** Writes the recovery's token into every part: a part that loses its data meanwhile loses the token too. */
export async function beginParts(redis: Redis, prefix: string, parts: Part[], token: string): Promise<void> {
  await Promise.all(parts.map((p) => redis.set(keys.slotRecoveryNonce(prefix, tagOf(prefix, p)), token)));
}

/**
 * Writes each part's sentinel (no TTL) if and only if the recovery's token is still in that part,
 * in one script per slot. Returns the parts that lost it: Redis lost their data during the
 * recovery, they stay without a sentinel and the next check recovers them again.
 */
export async function finishParts(redis: Redis, prefix: string, parts: Part[], token: string, value: string): Promise<Part[]> {
  const done = await Promise.all(parts.map((p) => {
    const tag = tagOf(prefix, p);
    return redis.eval(FINISH_IF_TOKEN, 2, keys.slotRecoveryNonce(prefix, tag), keys.slotEpoch(prefix, tag), token, value);
  }));
  const written = parts.filter((_, i) => done[i] === 1);
  if (written.length > 0) await redis.sadd(keys.vouchedParts(prefix), ...written.map(partName));
  return parts.filter((_, i) => done[i] !== 1);
}

/** The parts among `parts` that had a sentinel before (so lost their data, rather than being new: a type or partition first read now). */
export async function vouchedBefore(redis: Redis, prefix: string, parts: Part[]): Promise<Part[]> {
  if (parts.length === 0) return [];
  const known = await redis.smismember(keys.vouchedParts(prefix), ...parts.map(partName));
  return parts.filter((_, i) => known[i] === 1);
}

/**
 * Makes the next check recover this part (a consumer group of it was found missing), and makes a
 * recovery under way not vouch for it: its token goes with the sentinel, in one slot.
 */
export async function dropPart(redis: Redis, prefix: string, part: Part): Promise<void> {
  const tag = tagOf(prefix, part);
  await redis.del(keys.slotEpoch(prefix, tag), keys.slotRecoveryNonce(prefix, tag));
}
