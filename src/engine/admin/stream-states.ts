import type Redis from "ioredis";
import { listEventStreams } from "../maintenance/retention.ts";
import { keys, streamOf } from "../redis/keys.ts";
import { fieldsOf } from "../redis/fields.ts";

export interface GroupState {
  handler: string;
  /** Entries not yet delivered to this group (counted up to LAG_COUNT_LIMIT when Redis cannot tell). */
  lag: number;
  /** Entries delivered and not yet acked. */
  pending: number;
  /** Consumers in the group, including ones whose process has gone. */
  consumers: number;
  /** Consumers whose process still holds its consumer name in Redis (it is running). */
  liveConsumers: number;
}

export interface StreamState {
  eventType: string;
  /** The partitions whose streams exist (0 alone for a type published with one partition). */
  partitions: number[];
  length: number;
  groups: GroupState[];
}

// Redis reports no lag once entries were deleted inside a group's unread range; they are then
// counted by reading ids, up to just past the alert threshold.
const LAG_COUNT_LIMIT = 10_001;

type Replies = [Error | null, unknown][];

/**
 * Every event stream under the prefix (the whole fleet's, not only this process's handlers) with
 * each consumer group's lag, pending count and live consumers. A few pipelined round trips; a
 * stream deleted meanwhile is left out.
 */
export async function readStreamStates(redis: Redis, prefix: string): Promise<StreamState[]> {
  const streams = (await listEventStreams(redis, prefix)).sort();
  if (streams.length === 0) return [];
  const info = redis.pipeline();
  for (const stream of streams) info.xlen(stream).xinfo("GROUPS", stream);
  const infoReplies = ((await info.exec()) ?? []) as Replies;

  const states: (StreamState & { key: string; raw: Record<string, unknown>[] })[] = [];
  streams.forEach((key, i) => {
    const [lenErr, len] = infoReplies[2 * i] ?? [null, 0];
    const [groupsErr, groups] = infoReplies[2 * i + 1] ?? [null, []];
    if (lenErr || groupsErr) return;
    const raw = (groups as unknown[][]).map(fieldsOf);
    const { eventType, partition } = streamOf(prefix, key)!;
    states.push({ key, raw, eventType, partitions: [partition], length: Number(len), groups: [] });
  });

  // Second round: consumers of every group, and a count where Redis reports no lag.
  const detail = redis.pipeline();
  for (const s of states) {
    for (const g of s.raw) {
      detail.xinfo("CONSUMERS", s.key, String(g.name));
      if (g.lag == null) detail.xrange(s.key, `(${String(g["last-delivered-id"])}`, "+", "COUNT", LAG_COUNT_LIMIT);
    }
  }
  const detailReplies = ((await detail.exec()) ?? []) as Replies;
  let at = 0;
  const named: { group: GroupState; names: string[] }[] = [];

  for (const s of states) {
    for (const g of s.raw) {
      const [, consumers] = detailReplies[at++] ?? [null, []];
      const lag = g.lag == null ? ((detailReplies[at++]?.[1] as unknown[] | undefined)?.length ?? 0) : Number(g.lag);
      const group = { handler: String(g.name), lag, pending: Number(g.pending ?? 0), consumers: Number(g.consumers ?? 0), liveConsumers: 0 };
      s.groups.push(group);
      named.push({ group, names: ((consumers as unknown[][] | null) ?? []).map((c) => String(fieldsOf(c).name)) });
    }
  }

  // Third round: a consumer is live while its process holds its name (renewed every few seconds).
  const all = [...new Set(named.flatMap((x) => x.names))];
  const liveNames = new Set<string>();
  if (all.length > 0) {
    const round = redis.pipeline();
    for (const name of all) round.get(keys.consumerName(prefix, name));
    const replies = ((await round.exec()) ?? []) as Replies;
    all.forEach((name, i) => replies[i]?.[1] != null && liveNames.add(name));
  }
  const names = new Map(named.map(({ group, names }) => [group, names]));
  return mergePartitions(states, names, liveNames);
}

/**
 * One state per event type: a type's partitions are separate streams, summed here (lengths, lag,
 * pending), with each group's consumers counted once across them.
 */
function mergePartitions(states: StreamState[], names: Map<GroupState, string[]>, live: Set<string>): StreamState[] {
  const byType = new Map<string, { partitions: number[]; length: number; groups: Map<string, { group: GroupState; names: Set<string> }> }>();
  for (const s of states) {
    const merged = byType.get(s.eventType) ?? { partitions: [] as number[], length: 0, groups: new Map() };
    byType.set(s.eventType, merged);
    merged.partitions.push(...s.partitions);
    merged.length += s.length;
    for (const g of s.groups) {
      const seen = merged.groups.get(g.handler);
      if (!seen) merged.groups.set(g.handler, { group: { ...g }, names: new Set(names.get(g) ?? []) });
      else {
        seen.group.lag += g.lag;
        seen.group.pending += g.pending;
        for (const n of names.get(g) ?? []) seen.names.add(n);
      }
    }
  }
  return [...byType].map(([eventType, { partitions, length, groups }]) => ({
    eventType,
    partitions: partitions.sort((a, b) => a - b),
    length,
    groups: [...groups.values()].map(({ group, names }) => ({ ...group, consumers: names.size, liveConsumers: [...names].filter((n) => live.has(n)).length })),
  }));
}
