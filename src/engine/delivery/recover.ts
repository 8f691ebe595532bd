import type Redis from "ioredis";
import type { Sql } from "../db.ts";
import type { Logger } from "../support/logger.ts";
import { findByStreamId } from "../outbox/claim.ts";
import type { Layout } from "../partitions/layout.ts";
import type { Subscription } from "./subscribe.ts";
import { findRedrive, publishFor } from "../outbox/redrive.ts";
import { keys } from "../redis/keys.ts";

/**
 * A pending entry of `partition` was deleted from its stream before `sub` finished it. Its event
 * is recovered from the outbox row it was published from (or the copy kept of a re-drive) and
 * re-driven to this handler only, into its partition under `layout`, never dropped.
 */
export async function recoverDeletedEntry(
  deps: { sql: Sql; redis: Redis; prefix: string; log: Logger; layout?: Layout }, sub: Subscription, entryId: string, partition = 0,
): Promise<void> {
  // The relay's own entry (its row names it), or one published for one handler (a re-drive).
  const row = (await findByStreamId(deps.sql, sub.eventType, entryId, partition)) ??
    (await findRedrive(deps.sql, keys.stream(deps.prefix, sub.eventType, partition), entryId))?.row;
  if (!row) {
    deps.log.error("pending entry was deleted and has no outbox row to recover it from", { entryId, partition });
    return;
  }
  const [done] = await deps.sql`select 1 from processed_events where handler = ${sub.handler} and event_id = ${row.id}`;
  if (done) return;
  const [newId] = await publishFor(deps.sql, deps.redis, deps.prefix, sub.handler, [row], deps.layout);
  deps.log.warn("re-drove a deleted pending entry from the outbox", { entryId, partition, eventId: row.id, newEntryId: newId });
}
