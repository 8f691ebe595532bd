import { and, eq, sql } from "drizzle-orm";
import { ConflictError } from "../lib/domain-errors.ts";
import type { Tx } from "./client.ts";
import { idempotencyKeys } from "./schema.ts";

export interface StoredResponse {
  statusCode: number;
  response: unknown;
}

/**
 * Takes `key` for this request inside the caller's transaction. Returns null when the key is new
 * (the caller does the work and calls saveIdempotentResponse before committing), or the first
 * response when it was used before with the same body. A concurrent request with the same key
 * waits here until the first one commits or rolls back. Another body is a 409.
 */
export async function takeIdempotencyKey(tx: Tx, scope: string, key: string, requestHash: string): Promise<StoredResponse | null> {
  const taken = await tx.insert(idempotencyKeys).values({ scope, key, requestHash }).onConflictDoNothing().returning({ key: idempotencyKeys.key });
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

/** Forgets keys older than `maxAgeMs`; a client retrying later than that creates a new order. */
export async function deleteOldIdempotencyKeys(tx: Pick<Tx, "execute">, maxAgeMs: number): Promise<number> {
  const rows = await tx.execute(sql`delete from idempotency_keys where created_at < now() - make_interval(secs => ${maxAgeMs / 1000}) returning 1`);
  return rows.length;
}
