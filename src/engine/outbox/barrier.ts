import type postgres from "postgres";
import { databaseNow } from "../db.ts";

type Q = postgres.Sql | postgres.TransactionSql;

// Two-key advisory lock: this constant says "publishing to the streams", the second key is the
// prefix's hash, so services (and parallel tests) with different prefixes never wait for each other.
const PUBLISH_LOCK = 7_202_612;

/**
 * Held (shared) until commit by every transaction that XADDs to the streams and then records
 * that it did: relay batches and dead-letter retries. Many hold it at once; it only orders them
 * against passPublishBarrier.
 */
export async function holdPublishBarrier(tx: Q, prefix: string): Promise<void> {
  // Also bounds how long the transaction may sit waiting for its client: if this process stalls
  // mid-batch, PostgreSQL ends the session and frees the claimed rows and the barrier for the
  // other machines and for recovery, instead of holding them until the process dies.
  await tx`select set_config('idle_in_transaction_session_timeout', ${String(PUBLISH_IDLE_LIMIT_MS)}, true), pg_advisory_xact_lock_shared(${PUBLISH_LOCK}, hashtext(${prefix}))`;
}

/** Longer than any Redis call of a batch can take (REDIS_COMMAND_TIMEOUT_MS). */
const PUBLISH_IDLE_LIMIT_MS = 30_000;

/**
 * Waits until every transaction holding the barrier has ended, and returns the database time
 * after that (UTC, microseconds). Anything such a transaction published before this call is
 * committed, and so visible, by the time this returns. Holds new holders back only for an instant.
 */
export async function passPublishBarrier(sql: postgres.Sql, prefix: string): Promise<string> {
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${PUBLISH_LOCK}, hashtext(${prefix}))`;
    return databaseNow(tx);
  });
}
