import { Gauge, type Registry } from "prom-client";
import type { MetricsSources } from "./metrics.ts";
import { countOpenDeadLetters, listSchedules, readOutboxBacklog, readStreamStates } from "../engine/index.ts";
import { probe } from "./probes.ts";

/**
 * The gauges read from PostgreSQL and Redis at scrape time. Returns the refresh to run before
 * rendering: each source is read with its own time limit, and a source that fails has its gauges
 * left out (absent, never stale) and `orderstream_dependency_up{dependency}` set to 0.
 */
export function registerScrapeGauges(registry: Registry, { sql, redis, prefix }: MetricsSources): () => Promise<void> {
  const registers = [registry];
  const pair = ["event_type", "handler"] as const;
  const up = new Gauge({ name: "orderstream_dependency_up", help: "1 when this scrape could read the dependency, else 0.", labelNames: ["dependency"], registers });
  // Unlabelled, so a reset would still render 0 (an empty outbox): registered only while readable.
  const backlog = new Gauge({ name: "orderstream_outbox_backlog", help: "Outbox rows not yet published.", registers: [] });
  const oldest = new Gauge({ name: "orderstream_outbox_oldest_unpublished_age_seconds", help: "Age of the oldest unpublished outbox row (0 when there is none).", registers: [] });
  const delayed = new Gauge({ name: "orderstream_outbox_delayed", help: "Delayed outbox rows not due yet.", registers: [] });
  let outboxShown = false;
  const showOutbox = (show: boolean) => {
    if (show === outboxShown) return;
    for (const [gauge, name] of [[backlog, "orderstream_outbox_backlog"], [oldest, "orderstream_outbox_oldest_unpublished_age_seconds"], [delayed, "orderstream_outbox_delayed"]] as const) {
      if (show) registry.registerMetric(gauge);
      else registry.removeSingleMetric(name);
    }
    outboxShown = show;
  };
  const openDeadLetters = new Gauge({ name: "orderstream_dead_letters_open", help: "Open dead letters (PostgreSQL dead_letters, status open).", labelNames: pair, registers });
  const length = new Gauge({ name: "orderstream_stream_length", help: "Entries in the event type's stream.", labelNames: ["event_type"], registers });
  const lag = new Gauge({ name: "orderstream_stream_lag", help: "Stream entries not yet delivered to the handler's consumer group.", labelNames: pair, registers });
  const pending = new Gauge({ name: "orderstream_stream_pending", help: "Entries delivered to the handler's group and not yet acked.", labelNames: pair, registers });
  const live = new Gauge({ name: "orderstream_stream_live_consumers", help: "Consumers of the handler's group whose process is running.", labelNames: pair, registers });

  const lastFired = new Gauge({ name: "orderstream_schedule_last_fired_timestamp_seconds", help: "When each schedule last fired (Unix seconds).", labelNames: ["schedule"], registers });
  const nextFire = new Gauge({ name: "orderstream_schedule_next_fire_timestamp_seconds", help: "When each schedule fires next (Unix seconds).", labelNames: ["schedule"], registers });

  const refreshPostgres = async () => {
    const [rows, dead, schedules] = await Promise.all([probe(() => readOutboxBacklog(sql)), probe(() => countOpenDeadLetters(sql)), probe(() => listSchedules(sql))]);
    openDeadLetters.reset();
    lastFired.reset();
    nextFire.reset();
    if (rows.ok) {
      backlog.set(rows.value.backlog);
      oldest.set((rows.value.oldestUnpublishedAgeMs ?? 0) / 1000);
      delayed.set(rows.value.delayed);
    }
    showOutbox(rows.ok);
    if (dead.ok) for (const d of dead.value) openDeadLetters.set({ event_type: d.eventType, handler: d.handler }, d.count);
    if (schedules.ok) {
      for (const sc of schedules.value) {
        if (sc.lastFiredAt) lastFired.set({ schedule: sc.name }, Date.parse(sc.lastFiredAt) / 1000);
        if (sc.nextFireAt && !sc.paused) nextFire.set({ schedule: sc.name }, Date.parse(sc.nextFireAt) / 1000);
      }
    }
    up.set({ dependency: "postgres" }, rows.ok && dead.ok && schedules.ok ? 1 : 0);
  };

  const refreshRedis = async () => {
    const streams = await probe(() => readStreamStates(redis, prefix));
    for (const g of [length, lag, pending, live]) g.reset();
    if (streams.ok) {
      for (const s of streams.value) {
        length.set({ event_type: s.eventType }, s.length);
        for (const g of s.groups) {
          const labels = { event_type: s.eventType, handler: g.handler };
          lag.set(labels, g.lag);
          pending.set(labels, g.pending);
          live.set(labels, g.liveConsumers);
        }
      }
    }
    up.set({ dependency: "redis" }, streams.ok ? 1 : 0);
  };

  return async () => {
    await Promise.all([refreshPostgres(), refreshRedis()]);
  };
}
