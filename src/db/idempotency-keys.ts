import { and, eq, sql } from "drizzle-orm";
import { ConflictError } from "../lib/domain-errors.ts";
import type { Db, Tx } from "./client.ts";
import { idempotencyKeys } from "./schema.ts";

export interface StoredResponse {
  statusCode: number;
  response: unknown;
}

/**
 * Takes `key` within `scope` for this request inside the caller's transaction. Returns null when
 * the key is new, or older than `ttlMs` (then it is taken over as new: the caller does the work and
 * calls saveIdempotentResponse before committing), or the first response when it was used before
 * with the same body. A concurrent request with the same key waits here until the first one
 * commits or rolls back. Another body is a ConflictError `idempotency_key_reused`.
 */
export async function takeIdempotencyKey(tx: Tx, scope: string, key: string, requestHash: string, ttlMs: number): Promise<StoredResponse | null> {
  // One statement: an expired row is reset in place, so two requests racing for it still serialise on its row lock.
  const taken = await tx.insert(idempotencyKeys).values({ scope, key, requestHash })
    .onConflictDoUpdate({
      target: [idempotencyKeys.scope, idempotencyKeys.key],
      set: { requestHash, statusCode: null, response: null, createdAt: sql`now()` },
      setWhere: sql`${idempotencyKeys.createdAt} < now() - make_interval(secs => ${ttlMs / 1000})`,
    })
    .returning({ key: idempotencyKeys.key });
  if (taken.length > 0) return null;
  const [prior] = await tx.select().from(idempotencyKeys).where(and(eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.key, key)));
  if (!prior || prior.statusCode === null) throw new Error("idempotency key held without a response");
  if (prior.requestHash !== requestHash) {
    throw new ConflictError("this Idempotency-Key was already used with a different request body", "idempotency_key_reused");
  }
  return { statusCode: prior.statusCode, response: prior.response };
}

export async function saveIdempotentResponse(tx: Tx, scope: string, key: string, { statusCode, response }: StoredResponse): Promise<void> {
  await tx.update(idempotencyKeys).set({ statusCode, response }).where(and(eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.key, key)));
}

/**
 * Deletes up to `limit` keys older than `maxAgeMs` (oldest first, by the created_at index) and
 * returns how many; call again until it returns less than `limit`. Safe to run on several machines
 * at once: a row another one deletes first is skipped.
 */
export async function deleteExpiredIdempotencyKeys(db: Db, maxAgeMs: number, limit = 5_000): Promise<number> {
  const rows = await db.execute(sql`
    delete from idempotency_keys where ctid in (
      select ctid from idempotency_keys where created_at < now() - make_interval(secs => ${maxAgeMs / 1000})
      order by created_at limit ${limit} for update skip locked)
    returning 1`);
  return rows.length;
}
