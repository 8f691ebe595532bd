import type { Context } from "hono";
import { countOpenDeadLetters, listSchedules, readOutboxBacklog, readStreamStates } from "../engine/index.ts";
import { sharedResult } from "../lib/shared-result.ts";
import { pingPostgres, pingRedis, probe } from "../metrics/probes.ts";
import { summarizeQueues } from "../metrics/queues.ts";
import type { AppDeps } from "./app.ts";
import { isAdminRequest } from "./bearer.ts";
import { healthRoute, liveRoute, queuesRoute, readyRoute } from "./contract/health.ts";
import { ApiError } from "./errors.ts";
import { consumerCheck, engineReadiness, recordedError, recoveryCheck, scheduleCheck, shown, whyFailed } from "./health-checks.ts";
import { openApiRoutes } from "./validate.ts";

/**
 * Health for Fly.io checks and people:
 * - `/live`: 200 while the process runs.
 * - `/ready`: 200 when PostgreSQL and Redis answer and the engine's loops run, else 503.
 * - `/`: `ok`, `degraded` (dead letters or outbox backlog past their alerts, or the check for
 *   Redis data loss failing; 200) or `down` (PostgreSQL or Redis unreachable; 503), with every check.
 * - `/queues`: per event type, waiting, active and failed entries.
 * Every dependency read has its own time limit, so each answers within ~2 s when one hangs. The
 * reads are shared: requests arriving together wait for one read, and its result serves every
 * request for HEALTH_CACHE_MS (a flood of probes costs one SCAN per second, not one each).
 * Errors never show credentials, and name hosts or ports only to a caller with the admin token.
 */
export function healthRoutes(deps: AppDeps) {
  const { config, sql, redis } = deps;
  const ttl = config.HEALTH_CACHE_MS;
  const ping = sharedResult(() => Promise.all([probe(() => pingPostgres(sql)), probe(() => pingRedis(redis))]), ttl);
  const backlogAndDeadLetters = sharedResult(() => Promise.all([probe(() => readOutboxBacklog(sql)), probe(() => countOpenDeadLetters(sql)), probe(() => listSchedules(sql))]), ttl);
  const queues = sharedResult(() => Promise.all([probe(() => readStreamStates(redis, config.STREAM_PREFIX)), probe(() => countOpenDeadLetters(sql))]), ttl);
  const detailed = (c: Context) => isAdminRequest(c, config.ADMIN_TOKEN);

  return openApiRoutes()
    .openapi(liveRoute, (c) => c.json({ status: "ok" as const }, 200))
    .openapi(readyRoute, async (c) => {
      const [postgres, redisCheck] = await ping();
      const engine = engineReadiness(deps.engine);
      const ok = postgres.ok && redisCheck.ok && engine.ok;
      const d = detailed(c);
      const body = { status: ok ? ("ok" as const) : ("unavailable" as const), checks: { postgres: shown(postgres, d), redis: shown(redisCheck, d), engine } };
      return ok ? c.json(body, 200) : c.json(body, 503);
    })
    .openapi(healthRoute, async (c) => {
      const [[postgres, redisCheck], [backlog, deadLetters, scheduleList]] = await Promise.all([ping(), backlogAndDeadLetters()]);
      const d = detailed(c);
      const relayStatus = deps.engine?.status().relay ?? null;
      const relay = {
        running: relayStatus !== null && !relayStatus.stopped,
        lastRunAt: relayStatus?.lastRunAt?.toISOString() ?? null,
        lastError: relayStatus?.lastError ? recordedError(relayStatus.lastError, d) : null,
        backlog: backlog.ok ? backlog.value.backlog : null,
        delayed: backlog.ok ? backlog.value.delayed : null,
        oldestUnpublishedAgeMs: backlog.ok ? backlog.value.oldestUnpublishedAgeMs : null,
        backlogAlert: config.OUTBOX_BACKLOG_ALERT,
        ageAlertMs: config.OUTBOX_AGE_ALERT_MS,
        ok: backlog.ok && backlog.value.backlog <= config.OUTBOX_BACKLOG_ALERT && (backlog.value.oldestUnpublishedAgeMs ?? 0) <= config.OUTBOX_AGE_ALERT_MS,
        ...(backlog.ok ? {} : { error: whyFailed(backlog, d) }),
      };
      const size = deadLetters.ok ? deadLetters.value.reduce((n, x) => n + x.count, 0) : null;
      const dlq = {
        size,
        threshold: config.DLQ_ALERT_THRESHOLD,
        ok: size !== null && size <= config.DLQ_ALERT_THRESHOLD,
        ...(deadLetters.ok ? {} : { error: whyFailed(deadLetters, d) }),
      };
      const recovery = recoveryCheck(deps.engine, d);
      const schedules = scheduleCheck(scheduleList, d);
      const status = !postgres.ok || !redisCheck.ok ? "down" : relay.ok && dlq.ok && recovery.ok && schedules.ok ? "ok" : "degraded";
      const body = {
        status,
        checks: { postgres: shown(postgres, d), redis: shown(redisCheck, d), relay, consumers: consumerCheck(deps.engine), dlq, recovery, schedules },
        version: deps.version,
        uptimeS: Math.round((Date.now() - deps.startedAt) / 1000),
      } as const;
      return status === "down" ? c.json(body, 503) : c.json(body, 200);
    })
    .openapi(queuesRoute, async (c) => {
      const [streams, deadLetters] = await queues();
      if (!streams.ok || !deadLetters.ok) {
        const d = detailed(c);
        const why = [!streams.ok && `redis: ${whyFailed(streams, d)}`, !deadLetters.ok && `postgres: ${whyFailed(deadLetters, d)}`].filter(Boolean).join("; ");
        throw new ApiError(503, "unavailable", `cannot read the queues (${why})`);
      }
      return c.json(summarizeQueues(streams.value, deadLetters.value), 200);
    });
}
