import type Redis from "ioredis";
import { keys } from "../redis/keys.ts";
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

/** Per event type: stream length, each group's pending and lag, and dead-lettered count. */
export async function collectStreamStats(redis: Redis, prefix: string, eventTypes: string[]): Promise<StreamStats[]> {
  const counts = await redis.hgetall(keys.deadLetterCounts(prefix));
  const out: StreamStats[] = [];
  for (const eventType of [...new Set(eventTypes)].sort()) {
    const stream = keys.stream(prefix, eventType);
    const [[, len], [, groups]] = ((await redis.multi().xlen(stream).xinfo("GROUPS", stream).exec()) ?? []) as [
      [Error | null, number], [Error | null, unknown[][] | undefined],
    ];
    out.push({
      eventType,
      length: Number(len ?? 0),
      groups: (groups ?? []).map((flat) => {
        const g = fieldsOf(flat);
        return { handler: String(g.name), pending: Number(g.pending ?? 0), lag: g.lag == null ? null : Number(g.lag) };
      }),
      deadLettered: Number(counts[eventType] ?? 0),
    });
  }
  return out;
}
