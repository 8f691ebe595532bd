import type { PostgresJsDatabase } from "drizzle-orm/postgres-js";
import type postgres from "postgres";

/** Any drizzle schema object: the user's tables (and relations), which type `ctx.tx`. */
export type AnySchema = Record<string, unknown>;

/** The user's drizzle database over postgres.js; the engine opens handler transactions on it. */
export type EngineDb<TSchema extends AnySchema = AnySchema> = PostgresJsDatabase<TSchema> & { $client: postgres.Sql };

/** A drizzle transaction on that database, typed with the user's schema. */
export type EngineTx<TSchema extends AnySchema = AnySchema> = Parameters<Parameters<PostgresJsDatabase<TSchema>["transaction"]>[0]>[0];

/** postgres.js, for the engine's own statements. */
export type Sql = postgres.Sql;

/** A postgres.js client or transaction: the verb-first SQL functions run on either. */
export type Q = postgres.Sql | postgres.TransactionSql;

/** Inside the engine the user's schema is unknown: its own statements need none. */
export type Db = EngineDb;
export type Tx = EngineTx;

/** The database's clock now, as UTC text with microseconds: the form the engine compares times in. */
export async function databaseNow(q: Q): Promise<string> {
  const [row] = await q<{ now: string }[]>`select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as now`;
  return row!.now;
}
