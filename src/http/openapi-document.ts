import { loadConfig } from "../config.ts";
import { createDatabase } from "../db/client.ts";
import { createRedis } from "../engine/index.ts";
import { createLogger } from "../lib/logger.ts";
import { createApp } from "./app.ts";
import { openApiDocument } from "./openapi.ts";

/**
 * The document of the app as the service builds it, without a running service: the clients are
 * created but never connect (postgres.js and ioredis connect on first use).
 */
export async function buildOpenApiDocument() {
  const config = loadConfig({ NODE_ENV: "development", DATABASE_URL: "postgres://unused@127.0.0.1:1/unused", REDIS_URL: "redis://127.0.0.1:1", LOG_LEVEL: "error" });
  const database = createDatabase(config.DATABASE_URL, { max: 1 });
  const redis = createRedis(config.REDIS_URL);
  const log = createLogger({ level: "error", service: "openapi" });
  try {
    const app = createApp({ ...database, config, redis, engine: null, log, version: "openapi", startedAt: Date.now() });
    return openApiDocument(app);
  } finally {
    redis.disconnect();
    await database.sql.end({ timeout: 0 });
  }
}
