import { Cron } from "croner";
import type { Db } from "../db/client.ts";
import { deleteExpiredIdempotencyKeys } from "../db/idempotency-keys.ts";
import type { Logger } from "../lib/logger.ts";
import { toError } from "../engine/index.ts";
import { IDEMPOTENCY_KEY_TTL_MS } from "./create-order.ts";

export interface IdempotencyKeyCleanupOptions {
  db: Db;
  log: Logger;
  /** croner pattern, with seconds. Defaults to every 10 minutes. */
  cron?: string;
  /** Defaults to IDEMPOTENCY_KEY_TTL_MS (24 h), the promise POST /orders makes. */
  maxAgeMs?: number;
}

/**
 * Deletes POST /orders idempotency keys past their 24 h on a schedule, so the table holds about a
 * day of keys. Expiry itself does not wait for this: an expired key is taken over as new when it
 * is used again (takeIdempotencyKey). Every machine runs it; they skip each other's rows.
 */
export function startIdempotencyKeyCleanup({ db, log, cron = "0 */10 * * * *", maxAgeMs = IDEMPOTENCY_KEY_TTL_MS }: IdempotencyKeyCleanupOptions): { stop(): void } {
  const job = new Cron(cron, { protect: true }, async () => {
    try {
      let deleted = 0;
      for (let n = -1; n !== 0 && !job.isStopped(); ) {
        n = await deleteExpiredIdempotencyKeys(db, maxAgeMs);
        deleted += n;
      }
      if (deleted) log.info("deleted expired idempotency keys", { deleted });
    } catch (err) {
      log.warn("could not delete expired idempotency keys; trying again at the next run", { err: toError(err) });
    }
  });
  return { stop: () => job.stop() };
}
