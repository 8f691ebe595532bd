import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { and, eq, isNull, sql } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { apiKeys } from "../db/schema.ts";
import { NotFoundError } from "../lib/domain-errors.ts";

/** Every key starts with this, so a leaked one is recognisable (secret scanners, logs). */
export const API_KEY_PREFIX = "osk_";
// 32 random bytes, base64url: 256 bits, so a plain SHA-256 is enough (nothing to brute-force).
const API_KEY = /^osk_[A-Za-z0-9_-]{43}$/;

export interface CreatedApiKey {
  id: string;
  tenantId: string;
  /** The secret: returned once, never stored. */
  key: string;
}

/** Hex SHA-256 of a key: what api_keys.key_hash holds. */
export const hashApiKey = (key: string): string => createHash("sha256").update(key).digest("hex");

/** Creates a key for `tenantId`; only its hash is stored, the key itself is in the result only. */
export async function createApiKey(db: Db, tenantId: string): Promise<CreatedApiKey> {
  const key = `${API_KEY_PREFIX}${randomBytes(32).toString("base64url")}`;
  const [row] = await db.insert(apiKeys).values({ tenantId, keyHash: hashApiKey(key) }).returning({ id: apiKeys.id });
  return { id: row!.id, tenantId, key };
}

/** Revokes a key (safe to call twice: the first revocation time stays); an unknown id is a NotFoundError. */
export async function revokeApiKey(db: Db, id: string): Promise<void> {
  const [row] = await db.update(apiKeys).set({ revokedAt: sql`coalesce(${apiKeys.revokedAt}, now())` }).where(eq(apiKeys.id, id)).returning({ id: apiKeys.id });
  if (!row) throw new NotFoundError("API key");
}

/**
 * The tenant of a key that exists and is not revoked, or undefined. Anything not shaped like a key
 * is refused without a query. The row is found by the key's hash; the hashes are then compared in
 * constant time, so the answer never depends on how much of a guess was right.
 */
export async function findApiKey(db: Db, key: string): Promise<{ id: string; tenantId: string } | undefined> {
  if (!API_KEY.test(key)) return undefined;
  const hash = hashApiKey(key);
  const [row] = await db.select({ id: apiKeys.id, tenantId: apiKeys.tenantId, keyHash: apiKeys.keyHash }).from(apiKeys)
    .where(and(eq(apiKeys.keyHash, hash), isNull(apiKeys.revokedAt)));
  if (!row || !timingSafeEqual(Buffer.from(row.keyHash, "hex"), Buffer.from(hash, "hex"))) return undefined;
  return { id: row.id, tenantId: row.tenantId };
}
