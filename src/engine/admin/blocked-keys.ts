import type { Sql } from "../db.ts";

/** A partition key an ordered handler stopped at, with the dead letter it waits for. */
export interface BlockedKey {
  handler: string;
  eventType: string;
  key: string;
  /** `parked`: its dead letter is open. `releasing`: the letter was retried or deleted and the waiting events are running, in order. */
  state: "parked" | "releasing";
  parkedAt: string;
  /** Events of the key that wait behind the dead letter (or behind the re-driven ones). */
  waiting: number;
  /** The key's first failing event: the dead letter to retry or delete. */
  deadLetter: { id: string; eventId: string; reason: string; error: string; failedAt: string; status: string };
}

export interface BlockedKeyFilter {
  handler?: string;
  eventType?: string;
  /** At most this many, oldest parked first. Defaults to 100. */
  limit?: number;
}

/** The parked keys of ordered handlers (see README "Ordering"), oldest parked first. */
export async function listBlockedKeys(sql: Sql, { handler, eventType, limit = 100 }: BlockedKeyFilter = {}): Promise<BlockedKey[]> {
  const rows = await sql<{
    handler: string; event_type: string; partition_key: string; parked_ms: number; waiting: number;
    dead_letter_id: string; event_id: string; reason: string | null; error: string | null; failed_ms: number | null; status: string | null;
  }[]>`
    select k.handler, k.event_type, k.partition_key, (extract(epoch from k.parked_at) * 1000)::float8 as parked_ms,
      (select count(*)::int from parked_events e
        where e.handler = k.handler and e.event_type = k.event_type and e.partition_key = k.partition_key and not e.redriven) as waiting,
      k.dead_letter_id, k.event_id, d.reason, d.error, (extract(epoch from d.failed_at) * 1000)::float8 as failed_ms, d.status
    from parked_keys k left join dead_letters d on d.id = k.dead_letter_id
    where true ${handler === undefined ? sql`` : sql`and k.handler = ${handler}`} ${eventType === undefined ? sql`` : sql`and k.event_type = ${eventType}`}
    order by k.parked_at, k.handler, k.event_type, k.partition_key
    limit ${limit}`;
  return rows.map((r) => ({
    handler: r.handler, eventType: r.event_type, key: r.partition_key,
    state: r.status === "open" ? "parked" : "releasing",
    parkedAt: new Date(r.parked_ms).toISOString(),
    waiting: r.waiting,
    deadLetter: {
      id: r.dead_letter_id, eventId: r.event_id, reason: r.reason ?? "", error: r.error ?? "",
      failedAt: new Date(r.failed_ms ?? r.parked_ms).toISOString(), status: r.status ?? "gone",
    },
  }));
}
