// Several real service processes (`bun src/main.ts`) on one machine, one database schema and one
// Redis prefix: started, SIGKILLed, SIGTERMed and restarted under their own consumer names; and
// the checks that tell when the pipeline behind them has drained.
import type Redis from "ioredis";
import type { Sql } from "../../src/db/client.ts";
import { scanAll } from "../../src/engine/index.ts";
import { eventTypeOf, keys, slotTag } from "../../src/engine/redis/keys.ts";
import { startProcess, type ServiceProcess } from "../support/process.ts";

export interface FleetMember {
  /** Its CONSUMER_NAME, the same in every life, as FLY_MACHINE_ID is on Fly.io. */
  readonly name: string;
  /** The running process, or null while it is down. */
  proc: ServiceProcess | null;
  url: string | null;
  lives: number;
}

export interface Fleet {
  readonly members: FleetMember[];
  /** Base URLs of the members that are up. */
  endpoints(): string[];
  /** Starts the member and waits until it serves HTTP. */
  start(member: FleetMember): Promise<void>;
  /** SIGKILL: the process vanishes mid-work, leaving its entries pending. */
  kill(member: FleetMember): Promise<void>;
  /** SIGTERM: resolves with the exit code and how long the shutdown took. */
  terminate(member: FleetMember, timeoutMs: number): Promise<{ code: number | null; ms: number; errors: string[] }>;
  /**
   * Deliveries by outcome (processed, duplicate, retry, ...) and rows the relays published
   * (`published`), over every life, from the last scrape of each: a lower bound, as a SIGKILLed
   * life's counts after its last scrape are lost. Null when /metrics does not expose them.
   */
  counters(): Record<string, number> | null;
  /** Scrapes /metrics of every member that is up (before a stop, and at the end). */
  scrape(members?: FleetMember[]): Promise<void>;
  /** Every process the fleet started, running or ended, oldest first (their output stays readable). */
  history(): ServiceProcess[];
}

export interface FleetOptions {
  /**
   * A process that ended without the fleet stopping it (it crashed, or exited on its own). The
   * member is already marked down; restarting it is the caller's decision.
   */
  onUnexpectedExit?: (member: FleetMember, code: number | null, proc: ServiceProcess) => void;
}

/**
 * Starts `size` members and waits until each consumes. `env` is every member's environment, or a
 * function giving member `index`'s (0-based), the same in each of its lives. A `ctx` on a Redis
 * Cluster (`clusterNodes`) starts them with REDIS_CLUSTER_NODES.
 */
export async function startFleet(
  ctx: { prefix: string; databaseUrl: string; clusterNodes?: string },
  size: number,
  env: Record<string, string> | ((index: number) => Record<string, string>),
  opts: FleetOptions = {},
): Promise<Fleet> {
  const members: FleetMember[] = Array.from({ length: size }, (_, i) => ({ name: `${ctx.prefix}-m${i + 1}`, proc: null, url: null, lives: 0 }));
  const envOf = (m: FleetMember) => (typeof env === "function" ? env(members.indexOf(m)) : env);
  // Processes the fleet itself is stopping: their exit is expected.
  const stopping = new WeakSet<ServiceProcess>();
  const spawned: ServiceProcess[] = [];
  // Per member and life: the last scraped counts (counters restart with the process).
  const scraped = new Map<string, Record<string, number>>();
  let metricsSeen = false;

  const scrapeOne = async (m: FleetMember) => {
    if (!m.url) return;
    const value = await fetch(`${m.url}/metrics`, { signal: AbortSignal.timeout(5_000) })
      .then(async (res) => (res.ok ? readCounters(await res.text()) : null))
      .catch(() => null);
    if (value === null) return;
    metricsSeen = true;
    scraped.set(`${m.name}#${m.lives}`, value);
  };

  const fleet: Fleet = {
    members,
    endpoints: () => members.flatMap((m) => (m.url ? [m.url] : [])),
    async start(m) {
      m.lives++;
      const proc = startProcess(ctx, { entry: "main", env: { ...envOf(m), CONSUMER_NAME: m.name }, label: `${m.name.slice(ctx.prefix.length + 1)}.${m.lives}` });
      m.proc = proc;
      spawned.push(proc);
      let served = false;
      // A process that never served failed to start: start() throws that, it is no exit to report.
      void proc.exited.then((code) => {
        if (!served || stopping.has(proc) || m.proc !== proc) return;
        m.proc = null;
        m.url = null;
        opts.onUnexpectedExit?.(m, code, proc);
      });
      try {
        m.url = `http://127.0.0.1:${await proc.port(20_000)}`;
        served = true;
      } catch (err) {
        // It never served: make sure it is gone and the member reads as down.
        stopping.add(proc);
        proc.kill("SIGKILL");
        await proc.exited;
        if (m.proc === proc) m.proc = null;
        throw err;
      }
    },
    async kill(m) {
      await scrapeOne(m);
      m.url = null;
      if (m.proc) stopping.add(m.proc);
      m.proc?.kill("SIGKILL");
      await m.proc?.waitForExit(10_000);
      m.proc = null;
    },
    async terminate(m, timeoutMs) {
      await scrapeOne(m);
      m.url = null;
      const proc = m.proc!;
      stopping.add(proc);
      const started = Date.now();
      proc.kill("SIGTERM");
      const code = await proc.waitForExit(timeoutMs);
      m.proc = null;
      return { code, ms: Date.now() - started, errors: proc.stdout.filter((l) => l.includes('"level":"error"')) };
    },
    counters: () => {
      if (!metricsSeen) return null;
      const total: Record<string, number> = {};
      for (const counts of scraped.values()) for (const [k, n] of Object.entries(counts)) total[k] = (total[k] ?? 0) + n;
      return total;
    },
    async scrape(only = members) {
      await Promise.all(only.map(scrapeOne));
    },
    history: () => [...spawned],
  };
  await Promise.all(members.map((m) => fleet.start(m)));
  await Promise.all(members.map((m) => m.proc!.waitForLine(/"msg":"consumers started"/, 20_000)));
  return fleet;
}

/** The engine's counters on /metrics (src/metrics/metrics.ts): deliveries by handler, event type and outcome; relay publications. */
export const PROCESSED_METRIC = "orderstream_events_processed_total";
export const PUBLISHED_METRIC = "orderstream_events_published_total";

/** PROCESSED_METRIC summed per outcome label, and PUBLISHED_METRIC as `published`; null when not exposed. */
export function readCounters(text: string): Record<string, number> | null {
  // A labelled counter shows no sample until it counts one: its TYPE line says it exists (at 0).
  if (!text.includes(`# TYPE ${PROCESSED_METRIC} counter`)) return null;
  const counts: Record<string, number> = { duplicate: 0, retry: 0, published: 0 };
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)\{([^}]*)\}\s+(\S+)/.exec(line);
    if (!m) continue;
    const key = m[1] === PUBLISHED_METRIC ? "published" : m[1] === PROCESSED_METRIC ? /\boutcome="([^"]*)"/.exec(m[2]!)?.[1] : undefined;
    if (key) counts[key] = (counts[key] ?? 0) + Number(m[3]);
  }
  return counts;
}

export interface DrainState {
  unpublished: number;
  pendingOrders: number;
  /** Entries delivered and not acked, over every group. */
  pendingEntries: number;
  /** Entries not yet delivered, over every group. */
  lag: number;
  orphans: number;
  /**
   * Parts of Redis not vouched for: 1 while the sentinel is missing (a recovery is due or under
   * way), plus each partition (or the dead-letter copies) that had a sentinel and lost it. Events
   * a data loss took are only published again by that recovery, so nothing is drained before it.
   */
  unvouched: number;
}

/** One look at what is still in flight; all zero means drained. */
export async function readDrainState(sql: Sql, redis: Redis, prefix: string): Promise<DrainState> {
  const [row] = await sql<{ unpublished: number; pending_orders: number }[]>`
    select (select count(*)::int from outbox where published_at is null) as unpublished,
           (select count(*)::int from orders where status = 'pending') as pending_orders`;
  let pendingEntries = 0;
  let lag = 0;
  for (const stream of await listStreams(redis, prefix)) {
    const info = fields((await redis.xinfo("STREAM", stream)) as unknown[]);
    for (const flat of (await redis.xinfo("GROUPS", stream)) as unknown[][]) {
      const g = fields(flat);
      pendingEntries += Number(g.pending ?? 0);
      // lag is null when Redis cannot tell (entries deleted); then compare the last ids.
      lag += g.lag != null ? Number(g.lag) : g["last-delivered-id"] === info["last-generated-id"] ? 0 : 1;
    }
  }
  let orphans = 0;
  for (const key of await scanAll(redis, `${prefix}:orphans:*`)) orphans += await redis.scard(key);
  return { unpublished: row!.unpublished, pendingOrders: row!.pending_orders, pendingEntries, lag, orphans, unvouched: await countUnvouched(redis, prefix) };
}

async function countUnvouched(redis: Redis, prefix: string): Promise<number> {
  if ((await redis.exists(keys.epoch(prefix))) === 0) return 1;
  const tags = (await redis.smembers(keys.vouchedParts(prefix))).map((part) => {
    if (part === "dead letters") return `${prefix}:dlq`;
    const at = part.lastIndexOf("#");
    return slotTag(prefix, part.slice(0, at), Number(part.slice(at + 1)));
  });
  const found = await Promise.all(tags.map((tag) => redis.exists(keys.slotEpoch(prefix, tag))));
  return found.filter((n) => n === 0).length;
}

/**
 * Waits until nothing is unpublished, pending or undelivered, seen twice in a row (PostgreSQL and
 * Redis are read one after the other, so one clean look could fall between a commit and its
 * publication). Returns how long it took; throws with what was left after `timeoutMs`, or, with
 * `stallMs`, as soon as orders stayed pending that long with nothing in flight that could decide them.
 */
export async function waitForDrain(sql: Sql, redis: Redis, prefix: string, timeoutMs: number, opts: { stallMs?: number } = {}): Promise<number> {
  const started = Date.now();
  let clean = 0;
  let last: DrainState | undefined;
  let stalledSince: number | null = null;
  while (Date.now() - started < timeoutMs) {
    last = await readDrainState(sql, redis, prefix).catch(() => undefined);
    clean = last && Object.values(last).every((v) => v === 0) ? clean + 1 : 0;
    if (clean >= 2) return Date.now() - started;
    const stuck = last !== undefined && last.pendingOrders > 0 && Object.entries(last).every(([k, v]) => k === "pendingOrders" || v === 0);
    stalledSince = stuck ? (stalledSince ?? Date.now()) : null;
    if (opts.stallMs !== undefined && stalledSince !== null && Date.now() - stalledSince >= opts.stallMs) {
      throw new Error(`the pipeline stalled: ${last!.pendingOrders} orders still pending with nothing in flight for ${opts.stallMs} ms`);
    }
    await Bun.sleep(300);
  }
  throw new Error(`the pipeline did not drain within ${timeoutMs} ms: ${JSON.stringify(last)}${await describeSessions(sql)}`);
}

/** What the database's other sessions are doing (open transactions, lock waits): why a drain stalls. */
async function describeSessions(sql: Sql): Promise<string> {
  const rows = await sql<{ pid: number; state: string; wait: string | null; xact_s: number | null; query: string; locks: string | null }[]>`
    select a.pid, a.state, a.wait_event_type || ':' || a.wait_event as wait,
      round(extract(epoch from now() - a.xact_start))::int as xact_s, left(a.query, 120) as query,
      (select string_agg(l.locktype || ' ' || l.mode || (case when l.granted then '' else ' WAITING' end), ', ')
         from pg_locks l where l.pid = a.pid and l.locktype = 'advisory') as locks
    from pg_stat_activity a
    where a.pid <> pg_backend_pid() and a.datname = current_database() and (a.xact_start is not null or a.wait_event_type = 'Lock')
    order by a.xact_start nulls last limit 20`.catch(() => []);
  return rows.length ? `; sessions: ${JSON.stringify(rows)}` : "; no open transactions";
}

export interface HeldEntry {
  stream: string;
  group: string;
  id: string;
}

/** Entries delivered to `consumer` and not acked, in every group of every stream. */
export async function pendingOn(redis: Redis, prefix: string, consumer: string): Promise<HeldEntry[]> {
  const held: HeldEntry[] = [];
  for (const stream of await listStreams(redis, prefix)) {
    for (const flat of (await redis.xinfo("GROUPS", stream)) as unknown[][]) {
      const group = String(fields(flat).name);
      const rows = (await redis.xpending(stream, group, "-", "+", 10_000, consumer)) as [string, ...unknown[]][];
      for (const [id] of rows) held.push({ stream, group, id });
    }
  }
  return held;
}

/**
 * Waits until none of `entries` is still pending on `consumer` (each acked, or claimed by another
 * consumer); returns how long that took, or null after `timeoutMs`. `onReleased` hears of each
 * entry as it goes, with how long it took.
 */
export async function waitReleased(
  redis: Redis, consumer: string, entries: HeldEntry[], timeoutMs: number, onReleased?: (entry: HeldEntry, ms: number) => void,
): Promise<number | null> {
  const started = Date.now();
  let left = entries;
  while (left.length > 0) {
    if (Date.now() - started > timeoutMs) return null;
    await Bun.sleep(100);
    const pipeline = redis.pipeline();
    for (const e of left) pipeline.xpending(e.stream, e.group, e.id, e.id, 1);
    const results = ((await pipeline.exec()) ?? []) as [Error | null, [string, string, ...unknown[]][]][];
    left = left.filter((e, i) => {
      const [err, rows] = results[i]!;
      const held = err !== null || rows[0]?.[1] === consumer;
      if (!held) onReleased?.(e, Date.now() - started);
      return held;
    });
  }
  return Date.now() - started;
}

/** Every event stream under the prefix, every partition, on every master of a cluster. */
export async function listStreams(redis: Redis, prefix: string): Promise<string[]> {
  return (await scanAll(redis, `${prefix}:*`, { type: "stream" })).filter((key) => eventTypeOf(prefix, key) !== undefined);
}

function fields(flat: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = flat[i + 1];
  return out;
}

/** A two-column table with a title, for the end of a run. */
export function formatTable(title: string, rows: [string, string][]): string {
  const w1 = Math.max(...rows.map(([k]) => k.length));
  const w2 = Math.max(title.length - w1 - 3, ...rows.map(([, v]) => v.length));
  const rule = `+${"-".repeat(w1 + 2)}+${"-".repeat(w2 + 2)}+`;
  const full = `+${"-".repeat(w1 + w2 + 5)}+`;
  return [full, `| ${title.padEnd(w1 + w2 + 3)} |`, rule, ...rows.map(([k, v]) => `| ${k.padEnd(w1)} | ${v.padEnd(w2)} |`), rule].join("\n");
}
