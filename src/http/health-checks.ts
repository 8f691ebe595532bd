import type { Engine, ScheduleState } from "../engine/index.ts";
import { redactSecrets, type Probe } from "../metrics/probes.ts";

// What /health shows of each part. `detailed` is true only for a caller with the admin token:
// error text can name internal hosts and ports, so anyone else gets a code (`ECONNREFUSED`).

const HIDDEN = "failing (the error is shown with the admin token)";

export function shown(p: Probe<unknown>, detailed: boolean): { ok: true; latencyMs: number } | { ok: false; error: string } {
  return p.ok ? { ok: true, latencyMs: p.latencyMs } : { ok: false, error: detailed ? p.error : p.reason };
}

/** A probe's error for a message, as this caller may see it. */
export const whyFailed = (p: Probe<unknown> & { ok: false }, detailed: boolean) => (detailed ? p.error : p.reason);

/** An error text recorded by the engine: redacted for operators, withheld from everyone else. */
export const recordedError = (text: string, detailed: boolean) => (detailed ? redactSecrets(text) : HIDDEN);

/** Ready once the engine runs its relay (when it has one) and every one of its consumers. */
export function engineReadiness(engine: Engine | null): { ok: boolean; reason?: string } {
  if (!engine) return { ok: false, reason: "the delivery engine has not started" };
  const s = engine.status();
  if (!s.running) return { ok: false, reason: "the delivery engine is stopping" };
  if (s.relay?.stopped) return { ok: false, reason: "the relay is stopped" };
  if (s.consumers.started < s.consumers.expected) {
    return { ok: false, reason: `consumers starting: ${s.consumers.started} of ${s.consumers.expected} running` };
  }
  return { ok: true };
}

export function consumerCheck(engine: Engine | null) {
  if (!engine) return { ok: false, consumer: null, expected: 0, started: 0 };
  const { consumer, expected, started } = engine.status().consumers;
  return { ok: started >= expected, consumer, expected, started };
}

/**
 * Recovery from Redis data loss: when this process last checked, the last recovery it ran (when,
 * why, what it re-published and restored), and the error of the last check if it failed.
 */
export function recoveryCheck(engine: Engine | null, detailed: boolean) {
  const r = engine?.status().recovery ?? null;
  if (!r) return { ok: true, watching: false };
  const last = r.last && {
    at: r.last.at.toISOString(), reason: r.last.reason, durationMs: r.last.durationMs,
    republishedEvents: r.last.republishedEvents, restoredDeadLetters: r.last.restoredDeadLetters, recreatedGroups: r.last.recreatedGroups,
  };
  return {
    ok: r.lastError === null, watching: true, running: r.running, lastCheckAt: r.lastCheckAt?.toISOString() ?? null, last,
    ...(r.lastError ? { error: recordedError(r.lastError, detailed) } : {}),
  };
}

/** A schedule running late: its next due time passed this long ago and it has not fired. */
const SCHEDULE_LATE_MS = 60_000;

/** Each schedule's last and next firing; not ok when one that is not paused is a minute late. */
export function scheduleCheck(list: Probe<ScheduleState[]>, detailed: boolean) {
  if (!list.ok) return { ok: false, items: [], error: whyFailed(list, detailed) };
  const items = list.value.map((s) => ({ name: s.name, cron: s.cron, paused: s.paused, lastFiredAt: s.lastFiredAt, lastDueAt: s.lastDueAt, nextFireAt: s.nextFireAt }));
  const late = items.filter((s) => !s.paused && s.nextFireAt !== null && Date.now() - Date.parse(s.nextFireAt) > SCHEDULE_LATE_MS).map((s) => s.name);
  return { ok: late.length === 0, items, ...(late.length ? { late } : {}) };
}
