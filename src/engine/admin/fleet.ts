import type Redis from "ioredis";
import type { Sql } from "../db.ts";
import { readOutboxBacklog } from "./counts.ts";
import { keys } from "../redis/keys.ts";
import { scanAll } from "../redis/scan.ts";
import type { Replies } from "../redis/ids.ts";

export interface Machine {
  /** Its consumer name in every group. */
  name: string;
  host: string | null;
  pid: number | null;
  /** How long its hold on the name lasts unless renewed (it renews every few seconds while it runs). */
  leaseMs: number | null;
}

/**
 * The machines of the fleet that are running consumers now: each holds its consumer name in
 * Redis while it runs. Found with SCAN (on every master of a cluster).
 */
export async function readMachines(redis: Redis, prefix: string): Promise<Machine[]> {
  const found = await scanAll(redis, keys.consumerName(prefix, "*"));
  if (found.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const key of found) pipeline.get(key).pttl(key);
  const replies = ((await pipeline.exec()) ?? []) as Replies;
  const start = keys.consumerName(prefix, "").length;
  return found
    .map((key, i) => {
      const holder = replies[2 * i]?.[1] as string | null | undefined;
      const ttl = Number(replies[2 * i + 1]?.[1] ?? -2);
      if (holder == null) return null; // released between SCAN and GET
      // The holder's process identity: host | boot id | pid namespace | pid | token.
      const parts = holder.split("|");
      const pid = Number(parts[3]);
      return { name: key.slice(start), host: parts.length >= 5 ? parts[0]! : null, pid: Number.isInteger(pid) ? pid : null, leaseMs: ttl >= 0 ? ttl : null };
    })
    .filter((m): m is Machine => m !== null)
    .sort((a, b) => a.name.localeCompare(b.name));
}

export interface LastRecovery {
  /** False when the sentinel is missing: Redis lost data (or never had the service) and a recovery is due. */
  sentinel: boolean;
  recoveredAt: string | null;
  by: string | null;
}

/** The fleet's last recovery from Redis data loss, from the sentinel the recovering machine writes last. */
export async function readLastRecovery(redis: Redis, prefix: string): Promise<LastRecovery> {
  const raw = await redis.get(keys.epoch(prefix));
  if (raw === null) return { sentinel: false, recoveredAt: null, by: null };
  try {
    const parsed = JSON.parse(raw) as { recoveredAt?: unknown; by?: unknown };
    return { sentinel: true, recoveredAt: typeof parsed.recoveredAt === "string" ? parsed.recoveredAt : null, by: typeof parsed.by === "string" ? parsed.by : null };
  } catch {
    return { sentinel: true, recoveredAt: null, by: null };
  }
}

export interface OutboxState {
  backlog: number;
  oldestUnpublishedAgeMs: number | null;
  /** The oldest row the relay has not published yet. */
  oldest: { id: string; eventType: string; createdAt: string } | null;
}

/** The relay's backlog and its oldest row (both served by the partial index on unpublished rows). */
export async function readOutboxState(sql: Sql): Promise<OutboxState> {
  const [backlog, [oldest]] = await Promise.all([
    readOutboxBacklog(sql),
    sql<{ id: string; event_type: string; created_ms: number }[]>`
      select id, event_type, (extract(epoch from created_at) * 1000)::float8 as created_ms
      from outbox where published_at is null order by created_at limit 1`,
  ]);
  return {
    ...backlog,
    oldest: oldest ? { id: oldest.id, eventType: oldest.event_type, createdAt: new Date(oldest.created_ms).toISOString() } : null,
  };
}
