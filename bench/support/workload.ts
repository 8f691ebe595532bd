// The same work for both sides: the events (SQL-inserted outbox rows, or in-process commits) and
// what a handler does with one (nothing, or one row update recorded exactly once).
import { sql as dsql } from "drizzle-orm";
import type { Db, Sql } from "../../src/db/client.ts";
import { commitWithEvents, writeEvent, type Waker } from "../../src/engine/outbox/write-event.ts";
import type { HandlerContext } from "../../src/engine/delivery/subscribe.ts";

export type HandlerKind = "noop" | "pg";
export const HANDLER_KINDS: HandlerKind[] = ["noop", "pg"];
export const KIND_LABEL: Record<HandlerKind, string> = { noop: "no-op", pg: "PostgreSQL effect" };
/** The handler name on both sides: our consumer group, the peer's processed_events key. */
export const HANDLER = "bench";

/** The rows the PostgreSQL-effect handler updates, one per event (`row` in the payload). */
export async function createBenchRows(sql: Sql, n: number): Promise<void> {
  await sql`create table bench_rows (id int primary key, n int not null default 0)`;
  await sql`insert into bench_rows (id) select g from generate_series(1, ${n}::int) g`;
}

/** `n` outbox rows in one statement, as another service would write them with plain SQL. */
export async function insertOutboxRows(sql: Sql, eventType: string, n: number): Promise<void> {
  await sql`
    insert into outbox (event_type, aggregate_id, payload)
    select ${eventType}, 'order-' || g, jsonb_build_object('row', g, 'sku', 'SKU-' || (g % 100), 'quantity', 1 + g % 3)
    from generate_series(1, ${n}::int) g`;
}

/** What went wrong with the handlers' effects; empty when every row was updated exactly once. */
export async function checkEffects(sql: Sql, kind: HandlerKind, n: number): Promise<string[]> {
  const problems: string[] = [];
  const [outbox] = await sql<{ pending: number }[]>`select count(*)::int as pending from outbox where published_at is null`;
  if (outbox!.pending > 0) problems.push(`${outbox!.pending} outbox rows still unpublished`);
  if (kind === "pg") {
    const [rows] = await sql<{ once: number; other: number }[]>`
      select count(*) filter (where n = 1)::int as once, count(*) filter (where n <> 1)::int as other from bench_rows`;
    const [done] = await sql<{ n: number }[]>`select count(*)::int as n from processed_events where handler = ${HANDLER}`;
    if (rows!.once !== n || rows!.other !== 0) problems.push(`bench_rows: ${rows!.once} of ${n} updated exactly once, ${rows!.other} not`);
    if (done!.n !== n) problems.push(`processed_events: ${done!.n} records, expected ${n}`);
  }
  return problems;
}

/** Our handler body: runs inside the engine's transaction, after its processed_events insert. */
export function ourEffect(kind: HandlerKind): (row: number, ctx: HandlerContext) => Promise<void> {
  if (kind === "noop") return async () => {};
  return async (row, { tx }) => {
    await tx.execute(dsql`update bench_rows set n = n + 1 where id = ${row}`);
  };
}

/**
 * The peer's handler body with the same guarantee as ours: the processed_events record and the
 * effect commit in one transaction, so a redelivered job changes nothing. The no-op does nothing.
 */
export function peerEffect(kind: HandlerKind, sql: Sql): (eventId: string, row: number) => Promise<void> {
  if (kind === "noop") return async () => {};
  return async (eventId, row) => {
    await sql.begin(async (tx) => {
      const claimed = await tx`
        insert into processed_events (handler, event_id) values (${HANDLER}, ${eventId})
        on conflict do nothing returning 1 as claimed`;
      if (claimed.length > 0) await tx`update bench_rows set n = n + 1 where id = ${row}`;
    });
  };
}

/**
 * Commits one event in its own transaction, the way in-process code does (writeEvent inside a
 * drizzle transaction); `waker` is our relay, or undefined for the peer, which only polls.
 * Returns the event id once the commit has returned.
 */
export async function commitEvent(db: Db, waker: Waker | undefined, eventType: string, row: number): Promise<string> {
  return commitWithEvents(db, waker, async (tx) => {
    const written = await writeEvent(tx, { eventType, aggregateId: `order-${row}`, payload: { row, sku: `SKU-${row % 100}`, quantity: 1 + (row % 3) } });
    return written.id;
  });
}
