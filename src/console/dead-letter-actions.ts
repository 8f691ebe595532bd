import type Redis from "ioredis";
import type { Logger, Sql } from "../engine/index.ts";
import { countOpenMatching, deleteDeadLetter, listOpenMatchingIds, retryDeadLetters, type DeadLetterSearch } from "./reads/index.ts";

/** At most this many dead letters per bulk call; a larger backlog takes several calls. */
export const BULK_LIMIT = 10_000;

export interface BulkDeps {
  sql: Sql;
  redis: Redis;
  prefix: string;
  log: Logger;
}

export type BulkAction = "retry" | "delete";

/**
 * Retries or deletes every open dead letter matching `search` (a filter, a search, or a list of
 * ids), through the engine's own retry and delete, so each keeps its guarantees. A dry run only
 * counts what would be touched. Letters resolved by someone else meanwhile are skipped.
 */
export async function applyToDeadLetters(deps: BulkDeps, action: BulkAction, search: Omit<DeadLetterSearch, "status">, dryRun: boolean): Promise<number> {
  const retryable = action === "retry";
  if (dryRun) return Math.min(BULK_LIMIT, await countOpenMatching(deps.sql, search, { retryable }));
  const ids = await listOpenMatchingIds(deps.sql, search, BULK_LIMIT, { retryable });
  if (ids.length === 0) return 0;
  if (action === "retry") return retryDeadLetters(deps, { ids });
  let deleted = 0;
  for (const id of ids) if ((await deleteDeadLetter(deps, id)) === "deleted") deleted++;
  deps.log.info("dead letters deleted", { deleted });
  return deleted;
}
