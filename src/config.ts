import { hostname } from "node:os";
import { z } from "zod";
import type { EngineOptions } from "./engine/index.ts";
import { parseDuration } from "./lib/duration.ts";
import { parseWebhookScopes, type WebhookScopes } from "./webhooks/scopes.ts";

const int = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback);
const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === undefined) {
        ctx.addIssue({ code: "custom", message: 'expected milliseconds or a duration such as "30s", "12h", "7d"' });
        return z.NEVER;
      }
      return ms;
    });

const secretToken = z.string().regex(/^[A-Za-z0-9._~+/-]+=*$/, "letters, digits and . _ ~ + / - only (a bearer token)").min(16, "at least 16 characters");

const schema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).default("postgres://postgres@127.0.0.1:5432/orderstream"),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).default("redis://127.0.0.1:6379"),
  /** `host:port,host:port,...`: a Redis Cluster's nodes to start from; when set, it replaces REDIS_URL (README "Redis Cluster"). */
  REDIS_CLUSTER_NODES: z.string().optional().transform((value, ctx) => {
    if (value === undefined) return undefined;
    const nodes: { host: string; port: number }[] = [];
    for (const part of value.split(",").map((p) => p.trim()).filter(Boolean)) {
      const m = /^([^\s:/@]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(part);
      const port = m ? Number(m[2]) : NaN;
      if (!m || port < 1 || port > 65535) {
        ctx.addIssue({ code: "custom", message: `"${part}": expected host:port (port 1 to 65535), comma-separated` });
        return z.NEVER;
      }
      nodes.push({ host: m[1]!.replace(/^\[|\]$/g, ""), port });
    }
    if (nodes.length === 0) ctx.addIssue({ code: "custom", message: "expected at least one host:port" });
    return nodes;
  }),
  /** Password of every REDIS_CLUSTER_NODES node. Never logged. */
  REDIS_CLUSTER_PASSWORD: z.string().min(1).optional(),
  /** `true`: connect to every REDIS_CLUSTER_NODES node over TLS (a managed cluster). */
  REDIS_CLUSTER_TLS: z.enum(["true", "false"]).default("false").transform((v) => v === "true"),
  PORT: int(3000, 0).pipe(z.number().max(65535)),
  /** Serves /metrics on this port alone (Fly's scraper reaches it on the private network); unset: on PORT. */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  STREAM_PREFIX: z.string().regex(/^[A-Za-z0-9_.:-]+$/, "letters, digits and _ . : - only").default("orderstream"),
  SERVICE_NAME: z.string().min(1).default("orderstream"),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  CONSUMER_NAME: z.string().min(1).optional(),
  FLY_MACHINE_ID: z.string().min(1).optional(),
  RELAY_CRON: z.string().min(1).default("* * * * * *"),
  RELAY_BATCH_SIZE: int(500, 1),
  RELAY_CONCURRENCY: int(2, 1),
  OUTBOX_MAX_RETRIES: int(5, 1),
  OUTBOX_INITIAL_DELAY_MS: int(1000, 0),
  OUTBOX_BACKOFF_MULTIPLIER: z.coerce.number().min(1).default(2),
  OUTBOX_MAX_DELAY_MS: int(60_000, 0),
  OUTBOX_RETENTION: duration("7d"),
  CONSUMER_CONCURRENCY: int(4, 1),
  CONSUMER_BATCH_SIZE: int(100, 1),
  DATABASE_POOL_SIZE: int(20, 2),
  CLAIM_IDLE_MS: int(15_000, 100),
  /** Partitions of every event type's stream (README "Partitions"). */
  STREAM_PARTITIONS: int(1, 1).pipe(z.number().max(1024)),
  /** Per type overrides: `order.created=16,user.created=4`. */
  STREAM_PARTITIONS_BY_TYPE: z.string().default("").transform((value, ctx) => {
    const out: Record<string, number> = {};
    for (const part of value.split(",").map((p) => p.trim()).filter(Boolean)) {
      const m = /^([^=\s{}]+)=(\d+)$/.exec(part);
      const n = m ? Number(m[2]) : NaN;
      if (!m || n < 1 || n > 1024) {
        ctx.addIssue({ code: "custom", message: `"${part}": expected <event type>=<partitions from 1 to 1024>, comma-separated` });
        return z.NEVER;
      }
      out[m[1]!] = n;
    }
    return out;
  }),
  READ_BLOCK_MS: int(2_000, 10),
  CONSUMER_STALE_MS: duration("1h"),
  MAINTENANCE_CRON: z.string().min(1).default("*/30 * * * * *"),
  STATS_INTERVAL_MS: int(30_000, 100),
  SHUTDOWN_TIMEOUT_MS: int(10_000, 0),
  HANDLER_TIMEOUT_MS: int(300_000, 1),
  IDEMPOTENCY_TTL_MS: duration("24h"),
  SCHEDULE_GRACE_MS: duration("2s"),
  /** How long start-up waits for PostgreSQL and Redis before it gives up; default by NODE_ENV (see loadConfig). */
  STARTUP_TIMEOUT_MS: z.string().optional().transform((value, ctx) => {
    if (value === undefined) return undefined;
    const ms = parseDuration(value);
    if (ms === undefined) ctx.addIssue({ code: "custom", message: 'expected milliseconds or a duration such as "30s"' });
    return ms;
  }),
  MIGRATE_ON_START: z.enum(["true", "false"]).default("true").transform((v) => v === "true"),
  /** `keys`: every business route needs an API key (or the admin token). Default by NODE_ENV (see loadConfig). */
  API_AUTH: z.enum(["keys", "off"]).optional(),
  /** Bearer token of the admin endpoints; required in production. Never logged. */
  ADMIN_TOKEN: secretToken.optional(),
  /** Bearer token /metrics requires when set (compared in constant time). Never logged. */
  METRICS_TOKEN: secretToken.optional(),
  WEBHOOK_SECRETS: z.string().default("").transform(parseWebhookSecrets),
  /** What each webhook provider may act on; see src/webhooks/scopes.ts and README "Webhooks". */
  WEBHOOK_SCOPES: z.string().default("").transform((value, ctx): WebhookScopes => {
    const { scopes, problems } = parseWebhookScopes(value);
    for (const message of problems) ctx.addIssue({ code: "custom", message });
    return scopes;
  }),
  SHOPEE_PARTNER_KEY: z.string().min(1).optional(),
  /** The push URL registered with Shopee, which its signature covers; defaults to the URL the request arrived at. */
  SHOPEE_CALLBACK_URL: z.url({ protocol: /^https?$/ }).optional(),
  MAX_BODY_BYTES: int(1024 * 1024, 1),
  DLQ_ALERT_THRESHOLD: int(100, 0),
  /** How long /health, /health/ready and /health/queues reuse one read of PostgreSQL and Redis. */
  HEALTH_CACHE_MS: int(1_000, 0),
  OUTBOX_BACKLOG_ALERT: int(10_000, 0),
  OUTBOX_AGE_ALERT_MS: duration("1m"),
  /** OTLP over HTTP: the collector's base URL (`/v1/traces` is appended). Unset: no tracing, and no cost. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
});

export type Env = z.infer<typeof schema>;

/**
 * `provider=whsec_<base64>,other=whsec_<base64>` into provider -> HMAC key. A problem names the
 * entry by position and provider, never by its secret.
 */
function parseWebhookSecrets(value: string, ctx: z.RefinementCtx): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  value.split(",").map((s) => s.trim()).filter(Boolean).forEach((entry, i) => {
    const eq = entry.indexOf("=");
    const provider = eq > 0 ? entry.slice(0, eq).trim() : "";
    const secret = eq > 0 ? entry.slice(eq + 1).trim() : "";
    const key = /^whsec_[A-Za-z0-9+/]+={0,2}$/.test(secret) ? Buffer.from(secret.slice(6), "base64") : null;
    if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(provider) || !key || key.length === 0) {
      ctx.addIssue({ code: "custom", message: `entry ${i + 1}${provider ? ` (${provider})` : ""} must be provider=whsec_<base64 key>, provider in lower-case letters, digits, _ and -` });
      return;
    }
    out.set(provider, key);
  });
  return out;
}

/** Everything the process is configured with, resolved once at start. */
export type Config = Omit<Env, "API_AUTH"> & {
  /** API_AUTH, or its default: `keys` in production, `off` elsewhere (with a warning at start). */
  API_AUTH: "keys" | "off";
  /** Stable across restarts of one machine, so a restarted machine picks its own pending entries back up. */
  consumerName: string;
  /** STARTUP_TIMEOUT_MS, or its default: 30 s in production (a fleet restarting during an outage waits instead of crash-looping), 5 s elsewhere (a developer hears at once that nothing runs). */
  startupTimeoutMs: number;
};

export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join("; ")}`);
  }
}

/** Parses the environment once; throws ConfigError naming each bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // An empty variable means "not set" (docker-compose and fly secrets often leave them blank).
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`));
  }
  const cfg = parsed.data;
  if (cfg.NODE_ENV === "production" && !cfg.ADMIN_TOKEN) {
    throw new ConfigError(["ADMIN_TOKEN: required when NODE_ENV=production (the admin endpoints would be open)"]);
  }
  if (cfg.METRICS_PORT !== undefined && cfg.METRICS_PORT !== 0 && cfg.METRICS_PORT === cfg.PORT) {
    throw new ConfigError([`METRICS_PORT: must differ from PORT (${cfg.PORT}); leave it unset to serve /metrics on PORT`]);
  }
  const unknown = [...cfg.WEBHOOK_SCOPES.keys()].filter((p) => !cfg.WEBHOOK_SECRETS.has(p) && !(p === "shopee" && cfg.SHOPEE_PARTNER_KEY));
  if (unknown.length) {
    throw new ConfigError([`WEBHOOK_SCOPES: ${unknown.join(", ")} ${unknown.length > 1 ? "are not providers" : "is not a provider"} of WEBHOOK_SECRETS (or shopee with SHOPEE_PARTNER_KEY)`]);
  }
  return {
    ...cfg,
    API_AUTH: cfg.API_AUTH ?? (cfg.NODE_ENV === "production" ? "keys" : "off"),
    consumerName: cfg.CONSUMER_NAME ?? cfg.FLY_MACHINE_ID ?? hostname(),
    startupTimeoutMs: cfg.STARTUP_TIMEOUT_MS ?? (cfg.NODE_ENV === "production" ? 30_000 : 5_000),
  };
}

/** The engine's settings from the environment: the one place where the two meet. */
export function engineOptions(config: Config): Omit<EngineOptions, "db" | "redis"> {
  return {
    prefix: config.STREAM_PREFIX,
    consumerName: config.consumerName,
    handlerDefaults: {
      concurrency: config.CONSUMER_CONCURRENCY,
      batchSize: config.CONSUMER_BATCH_SIZE,
      maxAttempts: config.OUTBOX_MAX_RETRIES,
      timeoutMs: config.HANDLER_TIMEOUT_MS,
      backoff: { initialMs: config.OUTBOX_INITIAL_DELAY_MS, multiplier: config.OUTBOX_BACKOFF_MULTIPLIER, maxMs: config.OUTBOX_MAX_DELAY_MS },
    },
    relay: { cron: config.RELAY_CRON, batchSize: config.RELAY_BATCH_SIZE, concurrency: config.RELAY_CONCURRENCY },
    claimIdleMs: config.CLAIM_IDLE_MS,
    partitions: { count: config.STREAM_PARTITIONS, byType: config.STREAM_PARTITIONS_BY_TYPE },
    readBlockMs: config.READ_BLOCK_MS,
    retentionMs: config.OUTBOX_RETENTION,
    consumerStaleMs: config.CONSUMER_STALE_MS,
    maintenanceCron: config.MAINTENANCE_CRON,
    statsIntervalMs: config.STATS_INTERVAL_MS,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    idempotencyTtlMs: config.IDEMPOTENCY_TTL_MS,
    scheduleGraceMs: config.SCHEDULE_GRACE_MS,
  };
}
