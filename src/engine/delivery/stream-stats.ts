import type Redis from "ioredis";
import { keys, streamOf } from "../redis/keys.ts";
import { fieldsOf } from "../redis/fields.ts";

export interface GroupStats {
  handler: string;
  /** Entries delivered and not yet acked. */
  pending: number;
  /** Entries in the stream not yet delivered to this group (null when Redis cannot tell). */
  lag: number | null;
}

export interface StreamStats {
  eventType: string;
  length: number;
  groups: GroupStats[];
  deadLettered: number;
}

/** Per event type (its partitions summed): stream length, each group's pending and lag, and dead-lettered count. */
export async function collectStreamStats(redis: Redis, prefix: string, streams: string[]): Promise<StreamStats[]> {
  const counts = await redis.hgetall(keys.deadLetterCounts(prefix));
  const byType = new Map<string, StreamStats>();
  for (const stream of [...new Set(streams)].sort()) {
    const eventType = streamOf(prefix, stream)?.eventType;
    if (eventType === undefined) continue;
    const [[, len], [, groups]] = ((await redis.multi().xlen(stream).xinfo("GROUPS", stream).exec()) ?? []) as [
      [Error | null, number], [Error | null, unknown[][] | undefined],
    ];
    const stats = byType.get(eventType) ?? { eventType, length: 0, groups: [], deadLettered: Number(counts[eventType] ?? 0) };
    byType.set(eventType, stats);
    stats.length += Number(len ?? 0);
    for (const flat of groups ?? []) {
      const g = fieldsOf(flat);
      const handler = String(g.name);
      const lag = g.lag == null ? null : Number(g.lag);
      const seen = stats.groups.find((x) => x.handler === handler);
      if (!seen) stats.groups.push({ handler, pending: Number(g.pending ?? 0), lag });
      else {
        seen.pending += Number(g.pending ?? 0);
        seen.lag = seen.lag === null || lag === null ? null : seen.lag + lag;
      }
    }
  }
  return [...byType.values()];
}
