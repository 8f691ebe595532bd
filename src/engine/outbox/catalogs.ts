import type Redis from "ioredis";
import { keys } from "../redis/keys.ts";

/** A machine's catalog is taken as live for this long after it was last advertised. */
export const CATALOG_TTL_MS = 60_000;
/** How often a running engine advertises its catalog again. */
export const CATALOG_REFRESH_MS = 10_000;

/**
 * Tells the fleet which event types this machine's code knows (`<prefix>:catalogs`, a field per
 * consumer name). During a rolling deploy, machines still on the old code then let rows of a type
 * only the new code knows wait for the new machines, instead of setting them aside.
 */
export async function advertiseCatalog(redis: Redis, prefix: string, machine: string, types: Iterable<string>): Promise<void> {
  await redis.hset(keys.catalogs(prefix), machine, JSON.stringify({ types: [...types], at: Date.now() }));
}

export async function withdrawCatalog(redis: Redis, prefix: string, machine: string): Promise<void> {
  await redis.hdel(keys.catalogs(prefix), machine);
}

/** Of `types`, those some live machine's catalog knows. */
export async function knownToFleet(redis: Redis, prefix: string, types: string[]): Promise<Set<string>> {
  const known = new Set<string>();
  if (types.length === 0) return known;
  const now = Date.now();
  for (const raw of Object.values(await redis.hgetall(keys.catalogs(prefix)))) {
    try {
      const catalog = JSON.parse(raw) as { types?: unknown; at?: unknown };
      if (typeof catalog.at !== "number" || now - catalog.at > CATALOG_TTL_MS || !Array.isArray(catalog.types)) continue;
      for (const t of catalog.types) if (types.includes(t as string)) known.add(t as string);
    } catch {
      // written by hand: ignored
    }
  }
  return known;
}
