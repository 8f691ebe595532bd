import { drizzle, type PostgresJsDatabase } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import type { HandlerContext } from "../engine/index.ts";
import * as schema from "./schema.ts";

/** The shop's tables: they type `ctx.tx` in its handlers (HandlerContext<Schema>). */
export type Schema = typeof schema;
export type Db = PostgresJsDatabase<Schema> & { $client: postgres.Sql };
/** A drizzle transaction handle, as passed to `db.transaction(async (tx) => ...)`. */
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];
export type Sql = postgres.Sql;
/** What a shop handler gets: `ctx.tx` typed with the shop's tables. */
export type ShopContext = HandlerContext<Schema>;

export interface Database {
  sql: Sql;
  db: Db;
}

export interface DatabaseOptions {
  max?: number;
  /** Seconds to wait for a connection before failing, so an outage answers quickly instead of hanging. */
  connectTimeout?: number;
}

// A write during a PostgreSQL outage answers 503 within about this long instead of hanging.
const CONNECT_TIMEOUT_S = 2;

export function createDatabase(url: string, { max = 10, connectTimeout = CONNECT_TIMEOUT_S }: DatabaseOptions = {}): Database {
  const sql = postgres(url, {
    max,
    connect_timeout: connectTimeout,
    idle_timeout: 60,
    onnotice: () => {},
    connection: { application_name: "orderstream" },
  });
  return { sql, db: drizzle(sql, { schema }) };
}
