import type Redis from "ioredis";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Sql } from "../db/client.ts";
import { registerProcessMetrics } from "./process-metrics.ts";
import { registerScrapeGauges } from "./scrape-gauges.ts";
import type { PublishedCounts, OutcomeReport } from "../engine/index.ts";

export interface MetricsSources {
  sql: Sql;
  redis: Redis;
  /** STREAM_PREFIX: the streams the scrape-time gauges read. */
  prefix: string;
  version?: string;
}

export interface Metrics {
  readonly registry: Registry;
  /** `text/plain; version=0.0.4; charset=utf-8` */
  readonly contentType: string;
  /** Engine hook: one delivery's outcome (startEngine's onOutcome). */
  onOutcome(report: OutcomeReport): void;
  /** Engine hook: rows a relay batch published per event type (startEngine's onPublished). */
  onPublished(counts: PublishedCounts): void;
  /** One HTTP request, by route pattern (never the raw path). */
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  /**
   * The Prometheus text of everything, with the gauges read now from PostgreSQL and Redis, each
   * with its own time limit: a dependency that is down leaves its gauges out and reports
   * `orderstream_dependency_up 0`, it never holds the scrape. Concurrent calls share one read.
   */
  scrape(): Promise<string>;
}

// End-to-end latency (outbox created_at to handler commit), 5 ms to 60 s.
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * One registry per service instance (never prom-client's global one), so tests can build many
 * apps side by side. Counters start at zero for each process; Prometheus' rate() handles restarts.
 */
export function createMetrics(sources: MetricsSources): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const published = new Counter({ name: "orderstream_events_published_total", help: "Outbox rows the relay published to their stream.", labelNames: ["event_type"], registers });
  const processed = new Counter({
    name: "orderstream_events_processed_total",
    help: "Deliveries by outcome: processed, duplicate (already applied), skipped (re-drive for another handler), retry, dead_lettered.",
    labelNames: ["handler", "event_type", "outcome"], registers,
  });
  const retried = new Counter({ name: "orderstream_events_retried_total", help: "Deliveries that failed and were left pending for a retry.", labelNames: ["handler", "event_type"], registers });
  const deadLettered = new Counter({ name: "orderstream_events_dead_lettered_total", help: "Deliveries moved to the dead letters.", labelNames: ["handler", "event_type", "reason"], registers });
  const latency = new Histogram({
    name: "orderstream_event_latency_seconds",
    help: "From the outbox row's created_at to its handler's commit, for first-time processing.",
    labelNames: ["event_type", "handler"], buckets: LATENCY_BUCKETS, registers,
  });
  const httpRequests = new Counter({ name: "orderstream_http_requests_total", help: "HTTP requests by method, route pattern and status.", labelNames: ["method", "route", "status"], registers });
  const httpDuration = new Histogram({ name: "orderstream_http_request_duration_seconds", help: "HTTP request duration by method and route pattern.", labelNames: ["method", "route"], buckets: HTTP_BUCKETS, registers });
  new Gauge({ name: "orderstream_build_info", help: "Always 1; the version label is the running release.", labelNames: ["version"], registers })
    .set({ version: sources.version ?? "unknown" }, 1);
  registerProcessMetrics(registry);
  const refreshGauges = registerScrapeGauges(registry, sources);

  let scraping: Promise<string> | null = null;
  return {
    registry,
    contentType: registry.contentType,
    onOutcome(r) {
      processed.inc({ handler: r.handler, event_type: r.eventType, outcome: r.outcome });
      if (r.outcome === "retry") retried.inc({ handler: r.handler, event_type: r.eventType });
      if (r.outcome === "dead_lettered") deadLettered.inc({ handler: r.handler, event_type: r.eventType, reason: r.reason ?? "unknown" });
      // Duplicates are redeliveries of work already done: their age says nothing about the pipeline.
      if (r.outcome === "processed" && r.latencyMs !== undefined) latency.observe({ event_type: r.eventType, handler: r.handler }, Math.max(0, r.latencyMs) / 1000);
    },
    onPublished(counts) {
      for (const [eventType, n] of Object.entries(counts)) published.inc({ event_type: eventType }, n);
    },
    observeRequest(method, route, status, seconds) {
      httpRequests.inc({ method, route, status: String(status) });
      httpDuration.observe({ method, route }, seconds);
    },
    scrape() {
      scraping ??= refreshGauges()
        .then(() => registry.metrics())
        .finally(() => (scraping = null));
      return scraping;
    },
  };
}
