import { Hono } from "hono";
import { countOpenDeadLetters, readOutboxBacklog, readStreamStates, type Engine } from "../engine/index.ts";
import { pingPostgres, pingRedis, probe, redactSecrets, type Probe } from "../metrics/probes.ts";
import { summarizeQueues } from "../metrics/queues.ts";
import type { AppDeps } from "./app.ts";
import { ApiError } from "./errors.ts";

/**
 * Health for Fly.io checks and people:
 * - `/live`: 200 while the process runs.
 * - `/ready`: 200 when PostgreSQL and Redis answer and the engine's loops run, else 503.
 * - `/`: `ok`, `degraded` (dead letters or outbox backlog past their alerts, or the check for
 *   Redis data loss failing; 200) or `down`
 *   (PostgreSQL or Redis unreachable; 503), with every check.
 * - `/queues`: per event type, waiting, active and failed entries.
 * Every dependency read has its own time limit, so each answers within ~2 s when one hangs.
 * Errors are shown without credentials.
 */
export function healthRoutes(deps: AppDeps): Hono {
  const { config, sql, redis } = deps;
  const ping = () => Promise.all([probe(() => pingPostgres(sql)), probe(() => pingRedis(redis))]);

  return new Hono()
    .get("/live", (c) => c.json({ status: "ok" }))
    .get("/ready", async (c) => {
      const [postgres, redisCheck] = await ping();
      const engine = engineReadiness(deps.engine);
      const ok = postgres.ok && redisCheck.ok && engine.ok;
      return c.json({ status: ok ? "ok" : "unavailable", checks: { postgres: shown(postgres), redis: shown(redisCheck), engine } }, ok ? 200 : 503);
    })
    .get("/", async (c) => {
      const [[postgres, redisCheck], backlog, deadLetters] = await Promise.all([
        ping(), probe(() => readOutboxBacklog(sql)), probe(() => countOpenDeadLetters(sql)),
      ]);
      const relayStatus = deps.engine?.status().relay ?? null;
      const relay = {
        running: relayStatus !== null && !relayStatus.stopped,
        lastRunAt: relayStatus?.lastRunAt?.toISOString() ?? null,
        lastError: relayStatus?.lastError ? redactSecrets(relayStatus.lastError) : null,
        backlog: backlog.ok ? backlog.value.backlog : null,
        oldestUnpublishedAgeMs: backlog.ok ? backlog.value.oldestUnpublishedAgeMs : null,
        backlogAlert: config.OUTBOX_BACKLOG_ALERT,
        ageAlertMs: config.OUTBOX_AGE_ALERT_MS,
        ok: backlog.ok && backlog.value.backlog <= config.OUTBOX_BACKLOG_ALERT && (backlog.value.oldestUnpublishedAgeMs ?? 0) <= config.OUTBOX_AGE_ALERT_MS,
        ...(backlog.ok ? {} : { error: backlog.error }),
      };
      const size = deadLetters.ok ? deadLetters.value.reduce((n, d) => n + d.count, 0) : null;
      const dlq = {
        size,
        threshold: config.DLQ_ALERT_THRESHOLD,
        ok: size !== null && size <= config.DLQ_ALERT_THRESHOLD,
        ...(deadLetters.ok ? {} : { error: deadLetters.error }),
      };
      const recovery = recoveryCheck(deps.engine);
      const status = !postgres.ok || !redisCheck.ok ? "down" : relay.ok && dlq.ok && recovery.ok ? "ok" : "degraded";
      return c.json(
        {
          status,
          checks: { postgres: shown(postgres), redis: shown(redisCheck), relay, consumers: consumerCheck(deps.engine), dlq, recovery },
          version: deps.version,
          uptimeS: Math.round((Date.now() - deps.startedAt) / 1000),
        },
        status === "down" ? 503 : 200,
      );
    })
    .get("/queues", async (c) => {
      const [streams, deadLetters] = await Promise.all([
        probe(() => readStreamStates(redis, config.STREAM_PREFIX)), probe(() => countOpenDeadLetters(sql)),
      ]);
      if (!streams.ok || !deadLetters.ok) {
        const why = [!streams.ok && `redis: ${streams.error}`, !deadLetters.ok && `postgres: ${deadLetters.error}`].filter(Boolean).join("; ");
        throw new ApiError(503, "unavailable", `cannot read the queues (${why})`);
      }
      return c.json(summarizeQueues(streams.value, deadLetters.value));
    });
}

function shown(p: Probe<unknown>): { ok: true; latencyMs: number } | { ok: false; error: string } {
  return p.ok ? { ok: true, latencyMs: p.latencyMs } : { ok: false, error: p.error };
}

/** Ready once the engine runs its relay (when it has one) and every one of its consumers. */
function engineReadiness(engine: Engine | null): { ok: boolean; reason?: string } {
  if (!engine) return { ok: false, reason: "the delivery engine has not started" };
  const s = engine.status();
  if (!s.running) return { ok: false, reason: "the delivery engine is stopping" };
  if (s.relay?.stopped) return { ok: false, reason: "the relay is stopped" };
  if (s.consumers.started < s.consumers.expected) {
    return { ok: false, reason: `consumers starting: ${s.consumers.started} of ${s.consumers.expected} running` };
  }
  return { ok: true };
}

function consumerCheck(engine: Engine | null) {
  if (!engine) return { ok: false, consumer: null, expected: 0, started: 0 };
  const { consumer, expected, started } = engine.status().consumers;
  return { ok: started >= expected, consumer, expected, started };
}

/**
 * Recovery from Redis data loss: when this process last checked, the last recovery it ran (when,
 * why, what it re-published and restored), and the error of the last check if it failed.
 */
function recoveryCheck(engine: Engine | null) {
  const r = engine?.status().recovery ?? null;
  if (!r) return { ok: true, watching: false };
  const last = r.last && {
    at: r.last.at.toISOString(), reason: r.last.reason, durationMs: r.last.durationMs,
    republishedEvents: r.last.republishedEvents, restoredDeadLetters: r.last.restoredDeadLetters, recreatedGroups: r.last.recreatedGroups,
  };
  return {
    ok: r.lastError === null, watching: true, running: r.running, lastCheckAt: r.lastCheckAt?.toISOString() ?? null, last,
    ...(r.lastError ? { error: redactSecrets(r.lastError) } : {}),
  };
}
