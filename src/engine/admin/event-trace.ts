import type Redis from "ioredis";
import type { Sql } from "../db.ts";
import { fieldsOf } from "../redis/fields.ts";
import { compareIds, type Replies } from "../redis/ids.ts";
import { keys } from "../redis/keys.ts";

export type HandlerStage =
  /** Its effects committed (processed_events). */
  | "processed"
  /** An operator deleted its dead letter; it will never run. */
  | "discarded"
  | "dead_lettered"
  /** Delivered, failed at least once, waiting for its next attempt. */
  | "retrying"
  /** Delivered to a consumer and not finished yet. */
  | "in_flight"
  /** On the stream, not yet delivered to this handler. */
  | "waiting"
  /** Its dead letter was retried: a new entry for this handler only is on its way. */
  | "redriven"
  /** Still in the outbox: the relay has not published it. */
  | "unpublished"
  /** Delivered, with no record of an outcome and not pending (its entry was trimmed, or it is settling right now). */
  | "unknown";

export interface HandlerTrace {
  handler: string;
  stage: HandlerStage;
  /** When it was processed, discarded or dead-lettered. */
  at: string | null;
  /** Failed attempts so far (retrying), or the attempts recorded with the dead letter. */
  attempts: number | null;
  /** Earliest time of the next attempt (retrying). */
  nextRetryAt: string | null;
  /** The consumer holding it (in flight or retrying). */
  consumer: string | null;
  deadLetterId: string | null;
  error: string | null;
}

export interface EventTrace {
  id: string;
  eventType: string;
  aggregateId: string | null;
  tenantId: string | null;
  /** False once retention deleted the outbox row (every handler had processed it) or it never had one here. */
  inOutbox: boolean;
  createdAt: string | null;
  publishedAt: string | null;
  /** The stream entry the relay last published it as. */
  entryId: string | null;
  payload: unknown;
  handlers: HandlerTrace[];
}

export interface TraceDeps {
  sql: Sql;
  redis: Redis;
  prefix: string;
  /** CLAIM_IDLE_MS: a retrying entry is claimed again once it has been idle this long. */
  claimIdleMs: number;
}

/** Where one event is: in the outbox, published, and per handler. Null when nothing knows the id. */
export async function traceEvent(deps: TraceDeps, eventId: string, now = Date.now()): Promise<EventTrace | null> {
  const [outbox] = await deps.sql<OutboxRow[]>`select ${outboxColumns(deps.sql)} from outbox where id = ${eventId}`;
  const [letters, settled] = await Promise.all([
    deps.sql<LetterRow[]>`
      select id, event_type, handler, status, attempts, error, aggregate_id, tenant_id, payload,
        (extract(epoch from failed_at) * 1000)::float8 as failed_ms
      from dead_letters where event_id = ${eventId} order by failed_at desc`,
    deps.sql<{ handler: string; outcome: string; at_ms: number }[]>`
      select handler, outcome, (extract(epoch from processed_at) * 1000)::float8 as at_ms from processed_events where event_id = ${eventId}`,
  ]);
  if (!outbox && letters.length === 0 && settled.length === 0) return null;
  const eventType = outbox?.event_type ?? letters[0]?.event_type ?? null;
  const stream = eventType ? await readGroups(deps, eventType, outbox?.stream_id ?? null, outbox?.stream_partition ?? 0) : new Map<string, GroupView>();

  const names = new Set([...stream.keys(), ...settled.map((s) => s.handler), ...letters.map((l) => l.handler)]);
  const handlers = [...names].sort().map((handler): HandlerTrace => {
    const blank = { handler, at: null, attempts: null, nextRetryAt: null, consumer: null, deadLetterId: null, error: null };
    const done = settled.find((s) => s.handler === handler);
    if (done) return { ...blank, stage: done.outcome === "discarded" ? "discarded" : "processed", at: iso(done.at_ms) };
    const letter = letters.find((l) => l.handler === handler);
    if (letter?.status === "open") {
      return { ...blank, stage: "dead_lettered", at: iso(letter.failed_ms), attempts: letter.attempts, deadLetterId: letter.id, error: letter.error };
    }
    const group = stream.get(handler);
    if (group?.pending) {
      const { consumer, idleMs, failures } = group.pending;
      if (failures === 0) return { ...blank, stage: "in_flight", consumer };
      return { ...blank, stage: "retrying", consumer, attempts: failures, nextRetryAt: iso(now + Math.max(0, deps.claimIdleMs - idleMs)) };
    }
    if (letter?.status === "retried") return { ...blank, stage: "redriven", deadLetterId: letter.id };
    if (outbox && outbox.published_ms === null) return { ...blank, stage: "unpublished" };
    if (group?.waiting) return { ...blank, stage: "waiting" };
    return { ...blank, stage: "unknown" };
  });

  const first = letters[0];
  return {
    id: eventId,
    eventType: eventType ?? "unknown",
    aggregateId: outbox?.aggregate_id ?? first?.aggregate_id ?? null,
    tenantId: outbox?.tenant_id ?? first?.tenant_id ?? null,
    inOutbox: !!outbox,
    createdAt: outbox ? iso(outbox.created_ms) : null,
    publishedAt: outbox?.published_ms != null ? iso(outbox.published_ms) : null,
    entryId: outbox?.stream_id ?? null,
    payload: outbox ? outbox.payload : parseJson(first?.payload ?? null),
    handlers,
  };
}

/** The newest events of an aggregate (outbox rows still kept), each traced; at most `limit`. */
export async function traceAggregate(deps: TraceDeps, aggregateId: string, limit = 20): Promise<EventTrace[]> {
  const rows = await deps.sql<{ id: string }[]>`
    select id from outbox where aggregate_id = ${aggregateId}
    union select event_id from dead_letters where aggregate_id = ${aggregateId} and event_id is not null
    limit ${limit * 2}`;
  const traces = (await Promise.all(rows.map((r) => traceEvent(deps, r.id)))).filter((t): t is EventTrace => t !== null);
  return traces.sort((a, b) => (b.createdAt ?? "").localeCompare(a.createdAt ?? "")).slice(0, limit);
}

interface GroupView {
  waiting: boolean;
  pending: { consumer: string; idleMs: number; failures: number } | null;
}

/** Each consumer group on the event's stream (its partition's): has it been delivered the entry, and is it pending there? */
async function readGroups(deps: TraceDeps, eventType: string, entryId: string | null, partition: number): Promise<Map<string, GroupView>> {
  const key = keys.stream(deps.prefix, eventType, partition);
  const groups = ((await deps.redis.xinfo("GROUPS", key).catch(() => [])) as unknown[][]).map(fieldsOf);
  const out = new Map<string, GroupView>();
  if (groups.length === 0) return out;
  const pipeline = deps.redis.pipeline();
  for (const g of groups) {
    if (!entryId) continue;
    pipeline.xpending(key, String(g.name), entryId, entryId, 1);
    pipeline.hget(keys.failures(deps.prefix, String(g.name), eventType, partition), entryId);
  }
  const replies = ((await pipeline.exec()) ?? []) as Replies;
  groups.forEach((g, i) => {
    const name = String(g.name);
    if (!entryId) return out.set(name, { waiting: false, pending: null });
    const [entry] = (replies[2 * i]?.[1] as [string, string, number, number][] | null) ?? [];
    const failures = Number(replies[2 * i + 1]?.[1] ?? 0);
    out.set(name, {
      waiting: compareIds(String(g["last-delivered-id"] ?? "0-0"), entryId) < 0,
      pending: entry ? { consumer: entry[1], idleMs: Number(entry[2]), failures } : null,
    });
  });
  return out;
}

interface OutboxRow {
  event_type: string;
  aggregate_id: string | null;
  tenant_id: string | null;
  payload: unknown;
  stream_id: string | null;
  stream_partition: number | null;
  created_ms: number;
  published_ms: number | null;
}

const outboxColumns = (sql: Sql) => sql`
  event_type, aggregate_id, tenant_id, payload, stream_id, stream_partition,
  (extract(epoch from created_at) * 1000)::float8 as created_ms,
  (extract(epoch from published_at) * 1000)::float8 as published_ms`;

interface LetterRow {
  id: string;
  event_type: string;
  handler: string;
  status: string;
  attempts: number;
  error: string;
  aggregate_id: string | null;
  tenant_id: string | null;
  payload: string;
  failed_ms: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
