import { sql as drizzleSql } from "drizzle-orm";
import type { Q, Sql, Tx } from "../db.ts";

/** One partition of an ordered handler's group. */
export interface PartitionRef {
  handler: string;
  eventType: string;
  partition: number;
}

/**
 * A run of an ordered handler found that its consumer no longer owns the partition (another one
 * raised the generation since): it commits nothing, and the partition's lane stops.
 */
export class FencedError extends Error {
  override name = "FencedError";
  constructor(readonly ref: PartitionRef, readonly owned: number, readonly current: number | null) {
    super(`partition ${ref.partition} of ${ref.handler}@${ref.eventType} moved on: owned under generation ${owned}, now ${current ?? "none"}`);
  }
}

/**
 * Raises the partition's fencing generation for its new owner and returns it. The UPDATE waits for
 * every transaction still holding the row FOR SHARE (the old owner's runs in flight), so once this
 * returns, nothing the old owner runs can commit any more: each of its runs checks the generation.
 */
export async function raiseFence(sql: Sql, ref: PartitionRef, owner: string): Promise<number> {
  const [row] = await sql<{ generation: number }[]>`
    insert into partition_fences (handler, event_type, partition, generation, owner)
    values (${ref.handler}, ${ref.eventType}, ${ref.partition}, 1, ${owner})
    on conflict (handler, event_type, partition) do update
      set generation = partition_fences.generation + 1, owner = excluded.owner, updated_at = now()
    returning generation`;
  return row!.generation;
}

/**
 * MUST be the first statement of every transaction an owner runs for the partition: holds the
 * fence row FOR SHARE until the commit (a new owner's raiseFence waits for it) and throws a
 * FencedError when the generation is no longer `generation`.
 */
export async function checkFence(tx: Tx, ref: PartitionRef, generation: number): Promise<void> {
  const rows = await tx.execute<{ generation: number }>(drizzleSql`
    select generation from partition_fences
    where handler = ${ref.handler} and event_type = ${ref.eventType} and partition = ${ref.partition} for share`);
  const current = rows[0]?.generation ?? null;
  if (current !== generation) throw new FencedError(ref, generation, current);
}

/** checkFence for the engine's own statements (postgres.js), e.g. parking a key. */
export async function checkFenceSql(q: Q, ref: PartitionRef, generation: number): Promise<void> {
  const [row] = await q<{ generation: number }[]>`
    select generation from partition_fences
    where handler = ${ref.handler} and event_type = ${ref.eventType} and partition = ${ref.partition} for share`;
  if (row?.generation !== generation) throw new FencedError(ref, generation, row?.generation ?? null);
}
