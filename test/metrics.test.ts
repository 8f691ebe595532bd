import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { loadConfig } from "../src/config.ts";
import { createDatabase } from "../src/db/client.ts";
import { createMetricsApp } from "../src/http/app.ts";
import { createRedis } from "../src/engine/index.ts";
import { UnrecoverableError } from "../src/engine/support/errors.ts";
import { subscribe } from "../src/engine/delivery/subscribe.ts";
import { keys } from "../src/engine/redis/keys.ts";
import { startTestApi, type TestApi } from "./support/api.ts";
import { createTestContext, insertOutboxRow, waitFor, type TestContext } from "./support/context.ts";
import { recordEffect } from "./support/effects.ts";

let ctx: TestContext;
const closers: (() => Promise<unknown> | void)[] = [];
beforeEach(async () => (ctx = await createTestContext()));
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  await ctx.cleanup();
});

const userCreated = z.object({ userId: z.string() });

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (0.0.4) strictly enough to fail on anything malformed. */
function parsePrometheus(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const helps = new Set<string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === "TYPE") {
        expect(["counter", "gauge", "histogram", "summary", "untyped"]).toContain(meta[3]!);
        types.set(meta[2]!, meta[3]!);
      } else helps.add(meta[2]!);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g)) labels[k!] = v!;
    const value = m[3] === "+Inf" ? Infinity : m[3] === "-Inf" ? -Infinity : Number(m[3]);
    if (Number.isNaN(value) && m[3] !== "NaN") throw new Error(`bad value in: ${line}`);
    samples.push({ name: m[1]!, labels, value });
  }
  for (const s of samples) {
    const family = s.name.replace(/_(bucket|sum|count)$/, "");
    expect(types.has(s.name) || types.has(family)).toBe(true);
    expect(helps.has(s.name) || helps.has(family)).toBe(true);
  }
  return { samples, types };
}

async function scrape(api: TestApi) {
  const res = await api.app.request("/metrics");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toStartWith("text/plain; version=0.0.4");
  const text = await res.text();
  const parsed = parsePrometheus(text);
  const value = (name: string, labels: Record<string, string> = {}) =>
    parsed.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
  return { text, ...parsed, value };
}

test("/metrics after events flow: published, processed by handler and outcome, retries, dead letters, latency, gauges, HTTP", async () => {
  const api = await startTestApi(ctx, {
    subscriptions: [
      subscribe({ handler: "welcome", eventType: "user.created", schema: userCreated, handle: async (e, c) => void (await recordEffect(c, e.id)) }),
      subscribe({
        handler: "flaky", eventType: "user.created", schema: userCreated,
        handle: async (e, c) => {
          if (c.attempt === 1) throw new Error("transient");
          await recordEffect(c, e.id);
        },
      }),
      subscribe({ handler: "banned", eventType: "user.created", schema: userCreated, handle: async () => { throw new UnrecoverableError("never"); } }),
    ],
  });
  for (let i = 0; i < 3; i++) await insertOutboxRow(ctx.sql, "user.created", { userId: `u${i}` });
  await insertOutboxRow(ctx.sql, "audit.logged", { n: 1 }); // no handler here
  const audit = keys.stream(ctx.prefix, "audit.logged");
  await waitFor("every outcome, and the unhandled event published", async () => {
    const [row] = await ctx.sql<{ n: number }[]>`select count(*)::int as n from effects`;
    return row!.n === 6 && (await ctx.redis.xlen(keys.deadLetters(ctx.prefix))) === 3 && (await ctx.redis.xlen(audit)) === 1;
  });

  // Scrape-time sources: a lagging group on another stream, open dead letters in PostgreSQL.
  await ctx.redis.xgroup("CREATE", audit, "auditor", "0");
  const paid = keys.stream(ctx.prefix, "order.paid");
  await ctx.sql`insert into dead_letters (event_type, handler, stream, entry_id, reason, error, attempts, payload)
    values ('order.paid', 'ledger', ${paid}, ${randomUUID()}, 'max_attempts', 'boom', 5, '{}'),
           ('order.paid', 'ledger', ${paid}, ${randomUUID()}, 'max_attempts', 'boom', 5, '{}')`;
  const orderId = randomUUID();
  expect((await api.call("GET", `/orders/${orderId}`)).status).toBe(404);
  expect((await api.call("GET", "/health/live")).status).toBe(200);
  expect((await api.call("GET", "/no/such/route")).status).toBe(404);

  const m = await scrape(api);
  const t = { event_type: "user.created" };
  expect(m.value("orderstream_events_published_total", t)).toBe(3);
  expect(m.value("orderstream_events_published_total", { event_type: "audit.logged" })).toBe(1);
  expect(m.value("orderstream_events_processed_total", { ...t, handler: "welcome", outcome: "processed" })).toBe(3);
  expect(m.value("orderstream_events_processed_total", { ...t, handler: "flaky", outcome: "retry" })).toBe(3);
  expect(m.value("orderstream_events_processed_total", { ...t, handler: "flaky", outcome: "processed" })).toBe(3);
  expect(m.value("orderstream_events_processed_total", { ...t, handler: "banned", outcome: "dead_lettered" })).toBe(3);
  expect(m.value("orderstream_events_retried_total", { ...t, handler: "flaky" })).toBe(3);
  expect(m.value("orderstream_events_dead_lettered_total", { ...t, handler: "banned", reason: "unrecoverable" })).toBe(3);
  expect(m.types.get("orderstream_event_latency_seconds")).toBe("histogram");
  expect(m.value("orderstream_event_latency_seconds_count", { ...t, handler: "welcome" })).toBe(3);
  expect(m.value("orderstream_event_latency_seconds_bucket", { ...t, handler: "welcome", le: "+Inf" })).toBe(3);
  expect(m.value("orderstream_event_latency_seconds_bucket", { ...t, handler: "welcome", le: "0.005" })).toBeDefined();
  expect(m.value("orderstream_event_latency_seconds_bucket", { ...t, handler: "welcome", le: "60" })).toBe(3);

  expect(m.value("orderstream_dependency_up", { dependency: "postgres" })).toBe(1);
  expect(m.value("orderstream_dependency_up", { dependency: "redis" })).toBe(1);
  expect(m.value("orderstream_outbox_backlog")).toBe(0);
  expect(m.value("orderstream_outbox_oldest_unpublished_age_seconds")).toBe(0);
  expect(m.value("orderstream_stream_lag", { ...t, handler: "welcome" })).toBe(0);
  expect(m.value("orderstream_stream_pending", { ...t, handler: "banned" })).toBe(0);
  expect(m.value("orderstream_stream_live_consumers", { ...t, handler: "welcome" })).toBe(1);
  expect(m.value("orderstream_stream_lag", { event_type: "audit.logged", handler: "auditor" })).toBe(1);
  expect(m.value("orderstream_stream_live_consumers", { event_type: "audit.logged", handler: "auditor" })).toBe(0);
  expect(m.value("orderstream_stream_length", t)).toBe(3);
  expect(m.value("orderstream_dead_letters_open", { event_type: "order.paid", handler: "ledger" })).toBe(2);
  expect(m.value("orderstream_dead_letters_open", { ...t, handler: "banned" })).toBe(3);

  expect(m.value("orderstream_http_requests_total", { method: "GET", route: "/orders/:id", status: "404" })).toBe(1);
  expect(m.value("orderstream_http_requests_total", { method: "GET", route: "/health/live", status: "200" })).toBe(1);
  expect(m.value("orderstream_http_requests_total", { method: "GET", route: "unmatched", status: "404" })).toBe(1);
  expect(m.value("orderstream_http_request_duration_seconds_count", { method: "GET", route: "/orders/:id" })).toBe(1);
  expect(m.text).not.toContain(orderId);
  expect(m.value("process_resident_memory_bytes")).toBeGreaterThan(0);
  expect(m.value("process_cpu_seconds_total")).toBeGreaterThan(0);
  expect(m.types.get("process_cpu_seconds_total")).toBe("counter");
  expect(m.value("orderstream_build_info", { version: "test" })).toBe(1);

  // The scrape itself shows up in the next one.
  expect((await scrape(api)).value("orderstream_http_requests_total", { method: "GET", route: "/metrics", status: "200" })).toBe(1);
});

test("/metrics still answers when Redis is unreachable: its gauges are left out and dependency_up is 0", async () => {
  const unreachable = createRedis("redis://127.0.0.1:1");
  closers.push(() => unreachable.disconnect());
  const api = await startTestApi(ctx, { engine: false, deps: { redis: unreachable } });
  await insertOutboxRow(ctx.sql, "user.created", { userId: "u1" });
  const m = await scrape(api);
  expect(m.value("orderstream_dependency_up", { dependency: "redis" })).toBe(0);
  expect(m.value("orderstream_dependency_up", { dependency: "postgres" })).toBe(1);
  expect(m.value("orderstream_outbox_backlog")).toBe(1);
  expect(m.samples.some((s) => s.name.startsWith("orderstream_stream_"))).toBe(false);
});

test("/metrics still answers when PostgreSQL is unreachable: its gauges are left out and dependency_up is 0", async () => {
  const unreachable = createDatabase("postgres://postgres@127.0.0.1:1/none", { max: 1 });
  closers.push(() => unreachable.sql.end({ timeout: 0 }));
  const api = await startTestApi(ctx, { engine: false, deps: unreachable });
  await ctx.redis.xadd(keys.stream(ctx.prefix, "user.created"), "*", "n", "1");
  const m = await scrape(api);
  expect(m.value("orderstream_dependency_up", { dependency: "postgres" })).toBe(0);
  expect(m.value("orderstream_dependency_up", { dependency: "redis" })).toBe(1);
  expect(m.value("orderstream_outbox_backlog")).toBeUndefined();
  expect(m.samples.some((s) => s.name === "orderstream_dead_letters_open")).toBe(false);
  expect(m.value("orderstream_stream_length", { event_type: "user.created" })).toBe(1);
});

test("each app has its own registry: counts in one never show in another", async () => {
  const a = await startTestApi(ctx, { engine: false });
  const b = await startTestApi(ctx, { engine: false });
  await a.call("GET", "/health/live");
  expect((await scrape(a)).value("orderstream_http_requests_total", { route: "/health/live" })).toBe(1);
  expect((await scrape(b)).value("orderstream_http_requests_total", { route: "/health/live" })).toBeUndefined();
});

describe("who can scrape", () => {
  const TOKEN = "metrics-token-0123456789abcdef";

  test("with METRICS_TOKEN, /metrics answers only Authorization: Bearer <METRICS_TOKEN>; anything else is a 401", async () => {
    const api = await startTestApi(ctx, { engine: false, env: { METRICS_TOKEN: TOKEN, ADMIN_TOKEN: "admin-token-0123456789abcdef" } });
    for (const authorization of [undefined, "", "Bearer", `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, "Bearer admin-token-0123456789abcdef", TOKEN]) {
      const res = await api.app.request("/metrics", { headers: authorization === undefined ? {} : { authorization } });
      expect({ authorization, status: res.status }).toEqual({ authorization, status: 401 });
      expect(res.headers.get("www-authenticate")).toStartWith("Bearer");
      expect(await res.text()).not.toContain("orderstream_");
    }
    const ok = await api.app.request("/metrics", { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("orderstream_build_info");
  });

  test("with METRICS_PORT, /metrics leaves the API and is served by the metrics app alone", async () => {
    const api = await startTestApi(ctx, { engine: false, env: { METRICS_PORT: "9091" } });
    expect((await api.app.request("/metrics")).status).toBe(404);
    const metricsApp = createMetricsApp({ metrics: api.metrics, config: ctx.config({ METRICS_PORT: "9091" }), log: ctx.log });
    const res = await metricsApp.request("/metrics");
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("orderstream_build_info");
    expect((await metricsApp.request("/health")).status).toBe(404);
    expect((await metricsApp.request("/orders/x")).status).toBe(404);
  });

  test("the metrics app keeps METRICS_TOKEN too", async () => {
    const config = ctx.config({ METRICS_PORT: "9091", METRICS_TOKEN: TOKEN });
    const metricsApp = createMetricsApp({ metrics: (await startTestApi(ctx, { engine: false })).metrics, config, log: ctx.log });
    expect((await metricsApp.request("/metrics")).status).toBe(401);
    expect((await metricsApp.request("/metrics", { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });

  test("METRICS_PORT must differ from PORT, and METRICS_TOKEN is a bearer token of at least 16 characters", () => {
    expect(() => loadConfig({ PORT: "3000", METRICS_PORT: "3000" })).toThrow(/METRICS_PORT/);
    expect(() => loadConfig({ METRICS_TOKEN: "short" })).toThrow(/METRICS_TOKEN/);
    expect(() => loadConfig({ METRICS_PORT: "70000" })).toThrow(/METRICS_PORT/);
    expect(loadConfig({ METRICS_PORT: "9091" }).METRICS_PORT).toBe(9091);
    expect(loadConfig({}).METRICS_PORT).toBeUndefined();
  });
});
