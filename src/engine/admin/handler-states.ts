import type Redis from "ioredis";
import type { Sql } from "../db.ts";
import { countOpenDeadLetters } from "./counts.ts";
import { readStreamStates } from "./stream-states.ts";
import { readPausedHandlers, type PauseInfo } from "./pause.ts";
import { fieldsOf } from "../redis/fields.ts";
import { keys } from "../redis/keys.ts";
import { entryTime, type Replies } from "../redis/ids.ts";

export interface ConsumerState {
  /** The consumer name (a machine: FLY_MACHINE_ID or the host name). */
  name: string;
  /** Its process is running: it holds its consumer name in Redis. */
  live: boolean;
  /** Entries delivered to it and not acked yet. */
  inFlight: number;
  /** When it last read or claimed from this group (Redis' idle time). */
  lastSeenAt: string;
}

export interface HandlerState {
  handler: string;
  eventType: string;
  /** Entries in the stream not yet delivered to this handler. */
  waiting: number;
  /** Delivered and being worked on (not acked, no failed attempt yet). */
  inFlight: number;
  /** Delivered, failed at least once, waiting for their next attempt. */
  retrying: number;
  /** Open dead letters (PostgreSQL). */
  deadLettered: number;
  /** Age of the oldest entry this handler has not finished (waiting or pending); null when none. */
  lagMs: number | null;
  paused: PauseInfo | null;
  consumers: ConsumerState[];
}

export interface StreamOverview {
  eventType: string;
  /** Entries in the stream (null: no stream, only dead letters of this type). */
  length: number | null;
  handlers: HandlerState[];
}

export interface StateDeps {
  sql: Sql;
  redis: Redis;
  prefix: string;
}

/**
 * Every event type with its stream and, per handler (consumer group), what waits, what is in
 * flight or retrying, the open dead letters, how far behind it is, its consumers and whether it
 * is paused. The whole fleet's groups, read from Redis and PostgreSQL in a few round trips.
 */
export async function readHandlerStates({ sql, redis, prefix }: StateDeps, now = Date.now()): Promise<StreamOverview[]> {
  const [streams, deadLetters, paused] = await Promise.all([readStreamStates(redis, prefix), countOpenDeadLetters(sql), readPausedHandlers(redis, prefix)]);

  // Per stream its groups' last delivered ids; per group its consumers, pending summary and failure counts.
  const round = redis.pipeline();
  for (const s of streams) {
    const key = keys.stream(prefix, s.eventType);
    round.xinfo("GROUPS", key);
    for (const g of s.groups) {
      round.xinfo("CONSUMERS", key, g.handler);
      round.xpending(key, g.handler);
      round.hlen(keys.failures(prefix, g.handler, s.eventType));
    }
  }
  const replies = ((await round.exec()) ?? []) as Replies;
  let at = 0;
  const next = () => {
    const [err, value] = replies[at++] ?? [null, null];
    return err ? null : value;
  };
  const details = streams.map((s) => {
    const groups = new Map(((next() as unknown[][] | null) ?? []).map((flat) => {
      const g = fieldsOf(flat);
      return [String(g.name), String(g["last-delivered-id"] ?? "0-0")] as const;
    }));
    return s.groups.map((g) => ({
      lastDelivered: groups.get(g.handler) ?? "0-0",
      consumers: ((next() as unknown[][] | null) ?? []).map(fieldsOf),
      oldestPending: ((next() as unknown[] | null)?.[1] as string | null) ?? null,
      failures: Number(next() ?? 0),
    }));
  });

  // The oldest entry not yet delivered to each group, and which consumers hold their names.
  const names = [...new Set(details.flat().flatMap((d) => d.consumers.map((c) => String(c.name))))];
  const last = redis.pipeline();
  streams.forEach((s, i) => s.groups.forEach((_, j) => last.xrange(keys.stream(prefix, s.eventType), `(${details[i]![j]!.lastDelivered}`, "+", "COUNT", 1)));
  if (names.length) last.mget(...names.map((n) => keys.consumerName(prefix, n)));
  const lastReplies = ((await last.exec()) ?? []) as Replies;
  const held = new Set(names.filter((_, i) => ((lastReplies[lastReplies.length - 1]?.[1] as (string | null)[] | undefined) ?? [])[i] != null));

  const dead = new Map(deadLetters.map((d) => [`${d.eventType}\u0000${d.handler}`, d.count]));
  let k = 0;
  const out: StreamOverview[] = streams.map((s, i) => ({
    eventType: s.eventType,
    length: s.length,
    handlers: s.groups.map((g, j) => {
      const d = details[i]![j]!;
      const firstWaiting = ((lastReplies[k++]?.[1] as [string, string[]][] | null) ?? [])[0]?.[0] ?? null;
      const oldest = [d.oldestPending, g.lag > 0 ? firstWaiting : null].filter((id): id is string => id !== null).map(entryTime);
      const retrying = Math.min(d.failures, g.pending);
      return {
        handler: g.handler, eventType: s.eventType,
        waiting: g.lag, inFlight: g.pending - retrying, retrying,
        deadLettered: dead.get(`${s.eventType}\u0000${g.handler}`) ?? 0,
        lagMs: oldest.length ? Math.max(0, now - Math.min(...oldest)) : null,
        paused: paused.get(g.handler) ?? null,
        consumers: d.consumers.map((c) => ({
          name: String(c.name), live: held.has(String(c.name)), inFlight: Number(c.pending ?? 0),
          lastSeenAt: new Date(now - Number(c.idle ?? 0)).toISOString(),
        })),
      };
    }),
  }));

  // Dead letters whose group is gone (Redis lost data, or the relay's set-aside rows) still show.
  for (const d of deadLetters) {
    let stream = out.find((s) => s.eventType === d.eventType);
    if (!stream) out.push((stream = { eventType: d.eventType, length: null, handlers: [] }));
    if (stream.handlers.some((h) => h.handler === d.handler)) continue;
    stream.handlers.push({
      handler: d.handler, eventType: d.eventType, waiting: 0, inFlight: 0, retrying: 0, deadLettered: d.count, lagMs: null,
      paused: paused.get(d.handler) ?? null, consumers: [],
    });
  }
  return out.sort((a, b) => a.eventType.localeCompare(b.eventType));
}

/** One entry per handler name across its event types, as `GET /handlers` shows them. */
export function byHandler(streams: StreamOverview[], paused: Map<string, PauseInfo>) {
  const handlers = new Map<string, { name: string; paused: PauseInfo | null; subscriptions: Omit<HandlerState, "handler" | "paused">[] }>();
  for (const s of streams) {
    for (const { handler, paused: _, ...state } of s.handlers) {
      let h = handlers.get(handler);
      if (!h) handlers.set(handler, (h = { name: handler, paused: paused.get(handler) ?? null, subscriptions: [] }));
      h.subscriptions.push(state);
    }
  }
  // A paused handler whose groups are gone stays listed, so it can be resumed.
  for (const [name, info] of paused) if (!handlers.has(name)) handlers.set(name, { name, paused: info, subscriptions: [] });
  return [...handlers.values()].sort((a, b) => a.name.localeCompare(b.name));
}
