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

  // Per partition stream its groups' last delivered ids; per group its consumers, pending summary
  // and failure counts; then the oldest entry not yet delivered to it. Merged over the partitions.
  const parts = streams.flatMap((s, i) => s.partitions.map((p) => ({ i, key: keys.stream(prefix, s.eventType, p), p })));
  const round = redis.pipeline();
  for (const { i, key, p } of parts) {
    round.xinfo("GROUPS", key);
    for (const g of streams[i]!.groups) {
      round.xinfo("CONSUMERS", key, g.handler);
      round.xpending(key, g.handler);
      round.hlen(keys.failures(prefix, g.handler, streams[i]!.eventType, p));
    }
  }
  const replies = ((await round.exec()) ?? []) as Replies;
  let at = 0;
  const next = () => {
    const [err, value] = replies[at++] ?? [null, null];
    return err ? null : value;
  };
  const perPart = parts.map(({ i }) => {
    const groups = new Map(((next() as unknown[][] | null) ?? []).map((flat) => {
      const g = fieldsOf(flat);
      return [String(g.name), String(g["last-delivered-id"] ?? "0-0")] as const;
    }));
    return streams[i]!.groups.map((g) => ({
      lastDelivered: groups.get(g.handler) ?? "0-0",
      consumers: ((next() as unknown[][] | null) ?? []).map(fieldsOf),
      oldestPending: ((next() as unknown[] | null)?.[1] as string | null) ?? null,
      failures: Number(next() ?? 0),
    }));
  });

  const names = [...new Set(perPart.flat().flatMap((d) => d.consumers.map((c) => String(c.name))))];
  const last = redis.pipeline();
  parts.forEach(({ i, key }, n) => streams[i]!.groups.forEach((_, j) => last.xrange(key, `(${perPart[n]![j]!.lastDelivered}`, "+", "COUNT", 1)));
  for (const name of names) last.get(keys.consumerName(prefix, name));
  const lastReplies = ((await last.exec()) ?? []) as Replies;
  let k = 0;
  const firstWaiting = perPart.map((groups) => groups.map(() => ((lastReplies[k++]?.[1] as [string, string[]][] | null) ?? [])[0]?.[0] ?? null));
  const held = new Set(names.filter((_, n) => lastReplies[k + n]?.[1] != null));

  // Each group's details summed over its type's partitions; the oldest ids are the minimum.
  const details = streams.map((s, i) => s.groups.map((_, j) => {
    const mine = parts.map((part, n) => ({ part, n })).filter(({ part }) => part.i === i);
    const consumers = new Map<string, { name: string; pending: number; idle: number }>();
    let failures = 0;
    const oldest: number[] = [];
    for (const { n } of mine) {
      const d = perPart[n]![j]!;
      failures += d.failures;
      if (d.oldestPending) oldest.push(entryTime(d.oldestPending));
      if (s.groups[j]!.lag > 0 && firstWaiting[n]![j]) oldest.push(entryTime(firstWaiting[n]![j]!));
      for (const c of d.consumers) {
        const name = String(c.name);
        const seen = consumers.get(name);
        const pending = Number(c.pending ?? 0);
        const idle = Number(c.idle ?? 0);
        if (!seen) consumers.set(name, { name, pending, idle });
        else consumers.set(name, { name, pending: seen.pending + pending, idle: Math.min(seen.idle, idle) });
      }
    }
    return { consumers: [...consumers.values()], failures, oldest };
  }));

  const dead = new Map(deadLetters.map((d) => [`${d.eventType}\u0000${d.handler}`, d.count]));
  const out: StreamOverview[] = streams.map((s, i) => ({
    eventType: s.eventType,
    length: s.length,
    handlers: s.groups.map((g, j) => {
      const d = details[i]![j]!;
      const retrying = Math.min(d.failures, g.pending);
      return {
        handler: g.handler, eventType: s.eventType,
        waiting: g.lag, inFlight: g.pending - retrying, retrying,
        deadLettered: dead.get(`${s.eventType}\u0000${g.handler}`) ?? 0,
        lagMs: d.oldest.length ? Math.max(0, now - Math.min(...d.oldest)) : null,
        paused: paused.get(g.handler) ?? null,
        consumers: d.consumers.map((c) => ({
          name: c.name, live: held.has(c.name), inFlight: c.pending,
          lastSeenAt: new Date(now - c.idle).toISOString(),
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
