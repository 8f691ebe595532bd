import type Redis from "ioredis";
import type { Q, Sql } from "../db.ts";
import { columns, type DeadLetterRow, type DeadLetterStatus } from "../dead-letters/row.ts";
import type { Logger } from "../support/logger.ts";

/** What the operators' API works on: the engine's stores under its prefix. */
export interface AdminDeps {
  sql: Sql;
  redis: Redis;
  prefix: string;
  log: Logger;
}

export interface DeadLetterFilter {
  eventType?: string;
  handler?: string;
}

/** The `and ...` conditions of a filter, for a query run on `q`. */
export function filterSql(q: Q, { eventType, handler }: DeadLetterFilter) {
  return q`${eventType === undefined ? q`` : q`and event_type = ${eventType}`} ${handler === undefined ? q`` : q`and handler = ${handler}`}`;
}

/** Locks the rows with these ids (any status) until the transaction ends. */
export async function lockDeadLetters(tx: Q, ids: string[]): Promise<DeadLetterRow[]> {
  return tx<DeadLetterRow[]>`select ${columns(tx)} from dead_letters where id = any(${ids}::uuid[]) for update`;
}

export async function markResolved(tx: Q, ids: string[], status: Exclude<DeadLetterStatus, "open">): Promise<void> {
  await tx`update dead_letters set status = ${status}, resolved_at = now() where id = any(${ids}::uuid[])`;
}
