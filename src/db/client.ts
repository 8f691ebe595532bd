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

/**
 * Seconds before a dropped connection tries again. postgres.js counts failed connects for the
 * whole pool and waits up to 20 s by default, so a few seconds of outage under load left the
 * relay's and handlers' connections asleep for 13-20 s after PostgreSQL was back. Capped at 1 s:
 * at most `max` connects a second against a server that is down.
 */
const reconnectBackoff = (retries: number) => Math.min(0.05 * 2 ** retries, 1) * (0.5 + Math.random() / 2);

export function createDatabase(url: string, { max = 10, connectTimeout = CONNECT_TIMEOUT_S }: DatabaseOptions = {}): Database {
  const sql = postgres(url, {
    max,
    connect_timeout: connectTimeout,
    idle_timeout: 60,
    backoff: reconnectBackoff,
    onnotice: () => {},
    connection: { application_name: "orderstream" },
  });
  return { sql, db: drizzle(sql, { schema }) };
}
