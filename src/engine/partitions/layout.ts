import type { Q } from "../db.ts";
import type { StreamEvent } from "../redis/entry.ts";
import { partitionOf } from "./hash.ts";

/**
 * What an event type's partition key is: its aggregate id (the default), its tenant id, or a key
 * computed from the event. An event without one (no aggregate id, say) has no order to keep and
 * is spread by its own id.
 */
export type PartitionKey<P = unknown> = "aggregateId" | "tenantId" | ((event: StreamEvent<P>) => string | null);

/** The fields of an outbox row or stream event a partition key is read from. */
export interface Keyed {
  id: string;
  type: string;
  aggregateId: string | null;
  tenantId: string | null;
  /** Parsed on demand, only for a key computed from the payload. */
  payload: () => unknown;
}

/**
 * How each event type is partitioned: the count the relay publishes with (STREAM_PARTITIONS,
 * overridable per type) and the partition key, which the type's subscriptions declare.
 */
export interface Layout {
  /** The partitions this process publishes `eventType` to. */
  count(eventType: string): number;
  /** The event's partition key, or null when it has none. */
  keyOf(event: Keyed): string | null;
  /** The partition this process publishes the event to. */
  partitionOf(event: Keyed): number;
  /** Types with an ordered handler here: the relay publishes them from one transaction at a time, oldest first. */
  ordered: ReadonlySet<string>;
  /** The ordered handlers of a type (none for most). */
  orderedHandlers(eventType: string): readonly string[];
}

export interface LayoutOptions {
  /** Partitions of every type (STREAM_PARTITIONS). Defaults to 1. */
  count?: number;
  /** Per type overrides (STREAM_PARTITIONS_BY_TYPE). */
  byType?: Record<string, number>;
}

/** One partition per type, keyed by aggregate id: what a process with no options publishes. */
export const SINGLE_PARTITION: Layout = makeLayout({}, []);

/**
 * The layout from the engine's options and subscriptions. Subscriptions of one type that name
 * different partition keys are refused: a stream has one partitioning, shared by its handlers.
 */
export function makeLayout(
  options: LayoutOptions,
  subscriptions: readonly { handler: string; eventType: string; partitionKey?: PartitionKey<never>; ordered?: boolean }[],
): Layout {
  const keyed = new Map<string, { key: PartitionKey; by: string }>();
  const ordered = new Set<string>();
  const orderedHandlers = new Map<string, string[]>();
  for (const s of subscriptions) {
    if (s.ordered) {
      ordered.add(s.eventType);
      orderedHandlers.set(s.eventType, [...(orderedHandlers.get(s.eventType) ?? []), s.handler]);
    }
    if (!s.partitionKey) continue;
    const seen = keyed.get(s.eventType);
    if (seen && seen.key !== s.partitionKey) {
      throw new Error(`handlers ${seen.by} and ${s.handler} name different partition keys for ${s.eventType}: a type has one`);
    }
    keyed.set(s.eventType, { key: s.partitionKey as PartitionKey, by: s.handler });
  }
  const check = (n: number, what: string) => {
    if (!Number.isInteger(n) || n < 1 || n > 1024) throw new Error(`${what} must be an integer from 1 to 1024, got ${n}`);
    return n;
  };
  const all = check(options.count ?? 1, "the partition count");
  const byType = new Map(Object.entries(options.byType ?? {}).map(([t, n]) => [t, check(n, `the partition count of ${t}`)]));
  const count = (eventType: string) => byType.get(eventType) ?? all;
  const keyOf = (e: Keyed): string | null => {
    const key = keyed.get(e.type)?.key ?? "aggregateId";
    if (key === "aggregateId") return e.aggregateId;
    if (key === "tenantId") return e.tenantId;
    try {
      return key({ id: e.id, type: e.type, aggregateId: e.aggregateId, tenantId: e.tenantId, occurredAt: "", payload: e.payload(), target: null });
    } catch {
      return null;
    }
  };
  return {
    count,
    keyOf,
    partitionOf: (e) => partitionOf(keyOf(e) ?? e.id, count(e.type)),
    ordered,
    orderedHandlers: (eventType) => orderedHandlers.get(eventType) ?? [],
  };
}

/**
 * Records the counts this process publishes with, keeping per type the highest any process ever
 * published it with: partitions beyond today's count may still hold entries, and consumers read
 * them all.
 */
export async function recordPartitions(sql: Q, counts: Record<string, number>): Promise<void> {
  const types = Object.keys(counts);
  if (types.length > 0) {
    await sql`
      insert into stream_partitions (event_type, partitions)
      select * from unnest(${types}::text[], ${types.map((t) => counts[t]!)}::int[])
      on conflict (event_type) do update set partitions = greatest(stream_partitions.partitions, excluded.partitions), updated_at = now()
      where stream_partitions.partitions < excluded.partitions`;
  }
}

/** The highest partition count each type was ever published with (types never partitioned are absent: 1). */
export async function readPartitions(sql: Q): Promise<Map<string, number>> {
  const rows = await sql<{ event_type: string; partitions: number }[]>`select event_type, partitions from stream_partitions`;
  return new Map(rows.map((r) => [r.event_type, r.partitions]));
}

/**
 * How many partitions of each type consumers read (and recovery and maintenance look at): the
 * count this process publishes with, or the highest any process ever published with if higher.
 */
export async function partitionsToRead(sql: Q, layout: Layout, types: Iterable<string>): Promise<Map<string, number>> {
  const recorded = await readPartitions(sql);
  return new Map([...new Set(types)].map((t) => [t, Math.max(layout.count(t), recorded.get(t) ?? 1)]));
}

/** 0, 1, ..., count - 1. */
export const partitionsOf = (count: number) => Array.from({ length: count }, (_, p) => p);
