import { fileURLToPath } from "node:url";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { createDatabase } from "./client.ts";

const MIGRATIONS = fileURLToPath(new URL("../../drizzle", import.meta.url));
// Any constant shared by every machine: serialises concurrent migrators (fleet start, tests).
const MIGRATION_LOCK = 7_202_611;

/** Creates the database named in `url` when it does not exist yet. Safe to call concurrently. */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ""));
  if (!name) return;
  const admin = new URL(url);
  admin.pathname = "/postgres";
  const sql = postgres(admin.toString(), { max: 1, connect_timeout: 5, onnotice: () => {} });
  try {
    const [row] = await sql`select 1 as found from pg_database where datname = ${name}`;
    if (row) return;
    await sql.unsafe(`create database "${name.replaceAll('"', '""')}"`).catch((err: { code?: string }) => {
      // Created by a concurrent caller: "already exists", or, when both got past the check at
      // once, the unique violation of the catalog's index on database names.
      if (err.code !== "42P04" && err.code !== "23505") throw err;
    });
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/**
 * Creates the database if needed and applies the committed drizzle migrations. Concurrent callers
 * (a fleet starting, parallel tests) wait for each other on an advisory lock held on its own connection.
 */
export async function migrateDatabase(url: string): Promise<void> {
  await ensureDatabase(url);
  const lock = postgres(url, { max: 1, connect_timeout: 5, onnotice: () => {} });
  const { sql, db } = createDatabase(url, { max: 1 });
  try {
    await lock`select pg_advisory_lock(${MIGRATION_LOCK})`;
    await migrate(db, { migrationsFolder: MIGRATIONS });
  } finally {
    await sql.end({ timeout: 1 });
    await lock.end({ timeout: 1 }); // closing the session releases the lock
  }
}
