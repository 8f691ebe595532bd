// `bun run db:migrate`: the release command on Fly.io, and the manual way to migrate.
import { loadConfig } from "../config.ts";
import { createLogger, redactUrl } from "../lib/logger.ts";
import { migrateDatabase } from "./migrate.ts";

const config = loadConfig();
const log = createLogger({ level: config.LOG_LEVEL, service: config.SERVICE_NAME });
try {
  await migrateDatabase(config.DATABASE_URL);
  log.info("migrations applied", { database: redactUrl(config.DATABASE_URL) });
} catch (err) {
  log.error("migration failed", { database: redactUrl(config.DATABASE_URL), err });
  process.exit(1);
}
