import type { Sql } from "postgres";
import type Redis from "ioredis";

/**
 * What the service has stored: a digest of every table's rows (so an update is seen, not only an
 * insert or a delete) and of the Redis hash of paused handlers. Two equal snapshots around a batch
 * of refused requests mean those requests wrote nothing.
 */
export async function snapshot(sql: Sql, redis: Redis, prefix: string): Promise<Map<string, string>> {
  const tables = await sql<{ name: string }[]>`
    select table_name as name from information_schema.tables
    where table_schema = current_schema() and table_type = 'BASE TABLE' and table_name not like '__drizzle%'
    order by 1`;
  const out = new Map<string, string>();
  for (const { name } of tables) {
    const [row] = await sql<{ n: string; digest: string | null }[]>`
      select count(*)::text as n, md5(coalesce(string_agg(t::text, '|' order by t::text), '')) as digest from ${sql(name)} t`;
    out.set(name, `${row!.n} rows ${row!.digest}`);
  }
  out.set("redis:paused", JSON.stringify(Object.entries(await redis.hgetall(`${prefix}:paused`)).sort()));
  return out;
}

/** The tables (and keys) whose contents differ between two snapshots. */
export function changed(before: Map<string, string>, after: Map<string, string>): string[] {
  return [...new Set([...before.keys(), ...after.keys()])].filter((k) => before.get(k) !== after.get(k));
}

/** Waits until two snapshots a second apart are equal: the handlers have finished what setup started. */
export async function settle(sql: Sql, redis: Redis, prefix: string, timeoutMs = 30_000): Promise<Map<string, string>> {
  const deadline = Date.now() + timeoutMs;
  let last = await snapshot(sql, redis, prefix);
  for (;;) {
    await Bun.sleep(700);
    const next = await snapshot(sql, redis, prefix);
    if (changed(last, next).length === 0) return next;
    if (Date.now() > deadline) throw new Error(`the service did not settle: ${changed(last, next).join(", ")} kept changing`);
    last = next;
  }
}
