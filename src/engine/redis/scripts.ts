import { createHash } from "node:crypto";
import type Redis from "ioredis";

type Arg = string | number;
type ScriptFn = (redis: Redis, keys: string[], args: Arg[]) => Promise<unknown>;

/** A Lua script run with EVALSHA (ioredis falls back to EVAL after a restart empties the cache). */
function defineScript(lua: string): ScriptFn {
  const name = `orderstream_${createHash("sha1").update(lua).digest("hex").slice(0, 12)}`;
  return (redis, keys, args) => {
    const r = redis as unknown as Record<string, (...a: Arg[]) => Promise<unknown>>;
    if (typeof r[name] !== "function") redis.defineCommand(name, { lua });
    return r[name]!(keys.length, ...keys, ...args);
  };
}

// KEYS[2] (a set) records, in the same step, every pending id XAUTOCLAIM dropped because its entry
// was deleted: a crash before the event is re-driven from the outbox then loses nothing.
const RECLAIM = defineScript(`
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
for _, id in ipairs(r[3] or {}) do redis.call('SADD', KEYS[2], id) end
local counts = {}
for i, e in ipairs(r[2]) do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)
  counts[i] = (p[1] and p[1][4]) or 1
end
return {r[1], r[2], r[3] or {}, counts}
`);

export interface Reclaimed {
  cursor: string;
  entries: { id: string; fields: string[]; deliveries: number }[];
  /** Pending ids whose entries were deleted from the stream, now recorded in the orphan set. */
  deleted: string[];
}

/**
 * XAUTOCLAIM entries idle for at least `minIdleMs` to `consumer`, with each one's delivery count
 * (which XAUTOCLAIM itself does not return), atomically in one round trip. Ids of deleted entries
 * are added to the `orphans` set in the same step.
 */
export async function reclaimEntries(
  redis: Redis, stream: string, orphans: string, group: string, consumer: string, minIdleMs: number, cursor: string, count: number,
): Promise<Reclaimed> {
  const [next, raw, deleted, counts] = (await RECLAIM(redis, [stream, orphans], [group, consumer, minIdleMs, cursor, count])) as [
    string, [string, string[] | null][], string[], number[],
  ];
  const entries: Reclaimed["entries"] = [];
  raw.forEach(([id, fields], i) => {
    if (fields) entries.push({ id, fields, deliveries: Number(counts[i] ?? 1) });
  });
  return { cursor: next, entries, deleted };
}

// This consumer's own pending entries after ARGV[3], claimed back at once (min idle 0) with their
// delivery counts; ids whose entries were deleted go to the orphan set (KEYS[2]) in the same step
// (XCLAIM drops them from the pending list).
const CLAIM_OWN = defineScript(`
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], '+', ARGV[4], ARGV[2])
if #p == 0 then return {0, '', {}, {}, {}} end
local ids, counts, deleted = {}, {}, {}
for _, e in ipairs(p) do
  ids[#ids + 1] = e[1]
  counts[e[1]] = e[4] + 1
  if #redis.call('XRANGE', KEYS[1], e[1], e[1]) == 0 then
    redis.call('SADD', KEYS[2], e[1])
    deleted[#deleted + 1] = e[1]
  end
end
local claimed = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, unpack(ids))
local out = {}
for i, e in ipairs(claimed) do out[i] = counts[e[1]] or 1 end
return {#p, p[#p][1], claimed, out, deleted}
`);

export interface OwnPending extends Omit<Reclaimed, "cursor"> {
  /** How many pending ids this page covered; fewer than asked means the list is done. */
  scanned: number;
  /** The last id covered, for the next page's exclusive start. */
  last: string;
}

/**
 * Claims back up to `count` of `consumer`'s own pending entries with ids after `after` ("-" for
 * the start, "(<id>" to continue), without waiting for them to go idle: what a process restarted
 * under its old name left unfinished is its own to finish first.
 */
export async function claimOwnPending(
  redis: Redis, stream: string, orphans: string, group: string, consumer: string, after: string, count: number,
): Promise<OwnPending> {
  const [scanned, last, raw, counts, deleted] = (await CLAIM_OWN(redis, [stream, orphans], [group, consumer, after, count])) as [
    number, string, [string, string[] | null][], number[], string[],
  ];
  const entries: OwnPending["entries"] = [];
  raw.forEach(([id, fields], i) => {
    if (fields) entries.push({ id, fields, deliveries: Number(counts[i] ?? 1) });
  });
  return { scanned: Number(scanned), last, entries, deleted };
}

// Parses XINFO's flat [name, value, ...] replies.
const LUA_HELPERS = `
local function info(flat) local t = {} for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end return t end
local function parse(id) local ms, seq = string.match(id, '^(%d+)-(%d+)$') return tonumber(ms), tonumber(seq) end
local function less(a, b) local am, as = parse(a) local bm, bs = parse(b) return am < bm or (am == bm and as < bs) end
`;

const TRIM = defineScript(`${LUA_HELPERS}
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
if #groups == 0 then
  if ARGV[1] == '' then return 0 end
  return redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
end
local needed = nil
for _, flat in ipairs(groups) do
  local g = info(flat)
  local candidate
  if tonumber(g['pending']) > 0 then
    candidate = redis.call('XPENDING', KEYS[1], g['name'])[2]
  else
    local ms, seq = parse(g['last-delivered-id'])
    candidate = ms .. '-' .. (seq + 1)
  end
  if needed == nil or less(candidate, needed) then needed = candidate end
end
return redis.call('XTRIM', KEYS[1], 'MINID', needed)
`);

/**
 * Trims `stream` below the oldest entry any of its groups still needs (pending, or not yet
 * delivered), computed and applied atomically so it never trims past it. A stream with no
 * groups is trimmed to `orphanMinId` when given.
 */
export async function trimStream(redis: Redis, stream: string, orphanMinId?: string): Promise<number> {
  return Number(await TRIM(redis, [stream], [orphanMinId ?? ""]));
}

const REMOVE_STALE = defineScript(`${LUA_HELPERS}
local removed = 0
for _, flat in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local c = info(flat)
  if c['name'] ~= ARGV[3] and tonumber(c['pending']) == 0 and tonumber(c['idle']) >= tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], c['name'])
    removed = removed + 1
  end
end
return removed
`);

/**
 * Removes consumers idle for `minIdleMs` with nothing pending. Checked and deleted in one script:
 * a consumer that holds entries is never removed (DELCONSUMER would drop its pending entries).
 */
export async function removeStaleConsumers(redis: Redis, stream: string, group: string, minIdleMs: number, self: string): Promise<number> {
  return Number(await REMOVE_STALE(redis, [stream], [group, minIdleMs, self]));
}

const SET_IDLE = defineScript(`
local orphaned = 0
for i = 5, #ARGV do
  if #redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i]) == 0 and #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1) > 0 then
    orphaned = orphaned + redis.call('SADD', KEYS[2], ARGV[i])
  end
end
local args = {'XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0}
for i = 5, #ARGV do args[#args + 1] = ARGV[i] end
args[#args + 1] = 'IDLE'
args[#args + 1] = ARGV[3]
if ARGV[4] ~= '' then
  args[#args + 1] = 'RETRYCOUNT'
  args[#args + 1] = ARGV[4]
end
args[#args + 1] = 'JUSTID'
redis.call(unpack(args))
return orphaned
`);

/**
 * Claims `ids` for `consumer` and sets their idle time (and, with `deliveries`, their delivery
 * count) without counting a delivery. XCLAIM silently drops pending ids whose entries were
 * deleted; those are added to the `orphans` set in the same step, so they are recovered, not lost.
 * Returns how many were orphaned.
 */
export async function setIdle(
  redis: Redis, stream: string, orphans: string, group: string, consumer: string, ids: string[], idleMs: number, deliveries?: number,
): Promise<number> {
  if (ids.length === 0) return 0;
  return Number(await SET_IDLE(redis, [stream, orphans], [group, consumer, Math.max(0, Math.floor(idleMs)), deliveries === undefined ? "" : Math.max(0, deliveries), ...ids]));
}

// Heartbeat of one member (ARGV[1]) of an ordered handler's group, on Redis' own clock (machines'
// clocks may disagree): records it, drops members silent for ARGV[2] ms, and returns the live
// ones. ARGV[3] = '1' leaves instead (a clean stop), so the others take its partitions at once.
const HEARTBEAT = defineScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[3] == '1' then redis.call('ZREM', KEYS[1], ARGV[1]) else redis.call('ZADD', KEYS[1], now, ARGV[1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[2])))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 10)
return redis.call('ZRANGE', KEYS[1], 0, -1)
`);

/** Records `consumer` as live in `members` (or removes it, with `leave`) and returns the members live within `windowMs`. */
export async function heartbeatMember(redis: Redis, members: string, consumer: string, windowMs: number, leave = false): Promise<string[]> {
  return (await HEARTBEAT(redis, [members], [consumer, Math.max(1, Math.floor(windowMs)), leave ? "1" : "0"])) as string[];
}

// A lease is `<consumer>|<generation>`. Taken when free, or when it still names this consumer
// (ARGV[1]): consumer names are unique among running processes, so that is this machine's
// previous life, restarted before its lease ran out.
const ACQUIRE_LEASE = defineScript(`
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1] + 1) ~= ARGV[1] .. '|' then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`);

/** Takes the lease for `consumer` with the value `value` for `ttlMs`; false when another consumer holds it. */
export async function acquireLease(redis: Redis, lease: string, consumer: string, value: string, ttlMs: number): Promise<boolean> {
  return Number(await ACQUIRE_LEASE(redis, [lease], [consumer, value, Math.max(1, Math.floor(ttlMs))])) === 1;
}

// Compare-and-set: only the holder (the exact value) renews, replaces or deletes a lease.
const RENEW_LEASE = defineScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
`);

/**
 * While the lease still holds `value`: sets it to `next` for another `ttlMs` (renewal, or the
 * generation filled in), or with `next` null deletes it (release). False when it was lost.
 */
export async function swapLease(redis: Redis, lease: string, value: string, next: string | null, ttlMs = 0): Promise<boolean> {
  return Number(await RENEW_LEASE(redis, [lease], [value, next ?? "", Math.max(1, Math.floor(ttlMs))])) === 1;
}
