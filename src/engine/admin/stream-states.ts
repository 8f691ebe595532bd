import type Redis from "ioredis";
import { listEventStreams } from "../maintenance/retention.ts";
import { eventTypeOf, keys } from "../redis/keys.ts";
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
    states.push({ key, raw, eventType: eventTypeOf(prefix, key)!, length: Number(len), groups: [] });
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
  const all = named.flatMap((x) => x.names);
  const held = all.length === 0 ? [] : await redis.mget(all.map((name) => keys.consumerName(prefix, name)));
  let i = 0;
  for (const { group, names } of named) for (const _ of names) if (held[i++] != null) group.liveConsumers++;
  return states.map(({ eventType, length, groups }) => ({ eventType, length, groups }));
}
