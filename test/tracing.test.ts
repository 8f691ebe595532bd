// Traces from the request to every handler: the HTTP span, the relay's publish spans and each
// handler run's process span, with an in-memory exporter in place of OTLP.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { z } from "zod";
import { retryDeadLetter, subscribe, UnrecoverableError } from "../src/engine/index.ts";
import { keys } from "../src/engine/redis/keys.ts";
import { parseCarrier } from "../src/engine/support/trace-context.ts";
import { startTracing, type Tracing } from "../src/telemetry.ts";
import { startTestApi } from "./support/api.ts";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { createProduct, orderBody, waitForStatus } from "./support/shop.ts";

let ctx: TestContext;
let tracing: Tracing | null = null;
// Shutting the SDK down stops its exporter too: each test gets a fresh one.
let exporter = new InMemorySpanExporter();
beforeEach(async () => {
  ctx = await createTestContext();
  exporter = new InMemorySpanExporter();
});
afterEach(async () => {
  await ctx.cleanup();
  await tracing?.shutdown();
  tracing = null;
});

/** Registers the SDK for this test, every span going to `exporter` as it ends. */
async function trace(): Promise<void> {
  tracing = await startTracing({ serviceName: "orderstream-test", version: "test", exporter });
}

const hex = (bytes: number) => crypto.getRandomValues(new Uint8Array(bytes)).reduce((s, b) => s + b.toString(16).padStart(2, "0"), "");
const spansOf = (traceId: string) => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
const named = (name: string, handler?: string) => exporter.getFinishedSpans().filter((s) =>
  s.name === name && (handler === undefined || s.attributes["messaging.consumer.group.name"] === handler));
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
const idOf = (s: ReadableSpan) => s.spanContext().spanId;
const job = z.object({ n: z.number() });

/** A row written by another service with plain SQL, with the trace context it was written in. */
async function insertTraced(eventType: string, traceContext: unknown): Promise<string> {
  const [row] = await ctx.sql<{ id: string }[]>`
    insert into outbox (event_type, payload, trace_context) values (${eventType}, '{"n": 1}'::jsonb, ${JSON.stringify(traceContext)}::jsonb) returning id`;
  return row!.id;
}

test("one POST /orders is one trace: the request, publish order.created, inventory's run, publish order.confirmed, then notifications and analytics", async () => {
  await trace();
  const api = await startTestApi(ctx, { tracing: true });
  const product = await createProduct(api, "tenant-1", "MUG", 5);
  // The caller's own trace: the request's span must continue it.
  const traceId = hex(16);
  const callerSpan = hex(8);
  const res = await api.call("POST", "/orders", orderBody("tenant-1", [{ productId: product.id, quantity: 1 }]), { traceparent: `00-${traceId}-${callerSpan}-01` });
  expect(res.status).toBe(201);
  await waitForStatus(api, res.body.id, "confirmed");
  await waitFor("the runs of order.confirmed", () =>
    spansOf(traceId).filter((s) => s.name === "process order.confirmed").length === 2);

  const spans = spansOf(traceId);
  const one = (name: string, handler?: string) => {
    const found = spans.filter((s) => s.name === name && (handler === undefined || s.attributes["messaging.consumer.group.name"] === handler));
    expect(found.map((s) => s.name)).toEqual([name]);
    return found[0]!;
  };
  const request = one("POST /orders");
  const publishCreated = one("publish order.created");
  const inventory = one("process order.created", "inventory");
  const analyticsOfCreated = one("process order.created", "analytics");
  const publishConfirmed = one("publish order.confirmed");
  const notifications = one("process order.confirmed", "notifications");
  const analytics = one("process order.confirmed", "analytics");

  expect(request.kind).toBe(SpanKind.SERVER);
  expect(parentOf(request)).toBe(callerSpan);
  expect(request.attributes["http.response.status_code"]).toBe(201);
  expect(request.attributes["orderstream.request_id"]).toBe(res.headers.get("x-request-id")!);
  expect([publishCreated.kind, publishConfirmed.kind]).toEqual([SpanKind.PRODUCER, SpanKind.PRODUCER]);
  expect([inventory, analyticsOfCreated, notifications, analytics].map((s) => s.kind)).toEqual(Array(4).fill(SpanKind.CONSUMER));
  expect(parentOf(publishCreated)).toBe(idOf(request));
  expect(parentOf(inventory)).toBe(idOf(publishCreated));
  expect(parentOf(analyticsOfCreated)).toBe(idOf(publishCreated));
  expect(parentOf(publishConfirmed)).toBe(idOf(inventory));
  expect(parentOf(notifications)).toBe(idOf(publishConfirmed));
  expect(parentOf(analytics)).toBe(idOf(publishConfirmed));

  // The outbox stores the context each event was written in: the request's, then inventory's run.
  const [created] = await ctx.sql<{ id: string; trace_context: unknown; stream_id: string }[]>`select id, trace_context, stream_id from outbox where event_type = 'order.created'`;
  expect(created!.trace_context).toEqual({ traceparent: `00-${traceId}-${idOf(request)}-01` });
  const [confirmed] = await ctx.sql<{ trace_context: unknown }[]>`select trace_context from outbox where event_type = 'order.confirmed'`;
  expect(confirmed!.trace_context).toEqual({ traceparent: `00-${traceId}-${idOf(inventory)}-01` });
  expect(inventory.attributes).toMatchObject({
    "messaging.system": "redis",
    "messaging.operation.type": "process",
    "messaging.destination.name": keys.stream(ctx.prefix, "order.created"),
    "messaging.consumer.group.name": "inventory",
    "messaging.message.id": created!.id,
    "orderstream.entry_id": created!.stream_id,
    "orderstream.attempt": 1,
  });
  expect(publishCreated.attributes).toMatchObject({
    "messaging.system": "redis", "messaging.operation.type": "send",
    "messaging.destination.name": keys.stream(ctx.prefix, "order.created"),
    "messaging.message.id": created!.id, "orderstream.entry_id": created!.stream_id,
  });
  expect(spans.every((s) => s.status.code !== SpanStatusCode.ERROR)).toBe(true);
});

test("a retry runs in a trace of its own that links to the context its entry carries, not as its child", async () => {
  await trace();
  let runs = 0;
  await ctx.startEngine([subscribe({
    handler: "flaky", eventType: "job.run", schema: job,
    handle: async () => {
      if (++runs === 1) throw new Error("first attempt fails");
    },
  })]);
  // Written by another service with plain SQL, in a trace of its own.
  const traceId = hex(16);
  const writerSpan = hex(8);
  await insertTraced("job.run", { traceparent: `00-${traceId}-${writerSpan}-01`, tracestate: "vendor=abc" });
  await waitFor("the second attempt's span", () => named("process job.run", "flaky").length === 2);

  const [publish] = named("publish job.run");
  const [first, retry] = named("process job.run", "flaky").sort((a, b) => Number(a.attributes["orderstream.attempt"]) - Number(b.attributes["orderstream.attempt"]));
  expect(publish!.spanContext().traceId).toBe(traceId);
  expect(parentOf(publish!)).toBe(writerSpan);
  expect(publish!.spanContext().traceState?.get("vendor")).toBe("abc");

  expect(first!.attributes["orderstream.attempt"]).toBe(1);
  expect(first!.spanContext().traceId).toBe(traceId);
  expect(parentOf(first!)).toBe(idOf(publish!));
  expect(first!.status).toMatchObject({ code: SpanStatusCode.ERROR, message: "first attempt fails" });

  expect(retry!.attributes["orderstream.attempt"]).toBe(2);
  expect(retry!.parentSpanContext).toBeUndefined();
  expect(retry!.spanContext().traceId).not.toBe(traceId);
  expect(retry!.links.map((l) => [l.context.traceId, l.context.spanId])).toEqual([[traceId, idOf(publish!)]]);
  expect(retry!.status.code).not.toBe(SpanStatusCode.ERROR);
});

test("a dead letter's retry runs in a trace of its own that links to the event's stored context", async () => {
  await trace();
  let failing = true;
  await ctx.startEngine([subscribe({
    handler: "mailer", eventType: "job.run", schema: job,
    handle: async () => {
      if (failing) throw new UnrecoverableError("mail server refused");
    },
  })]);
  const traceId = hex(16);
  const writerSpan = hex(8);
  const eventId = await insertTraced("job.run", { traceparent: `00-${traceId}-${writerSpan}-01` });
  const letter = await waitFor("the dead letter", async () =>
    (await ctx.sql<{ id: string }[]>`select id from dead_letters where event_id = ${eventId} and dlq_entry_id is not null`)[0]);
  failing = false;
  expect(await retryDeadLetter({ sql: ctx.sql, redis: ctx.redis, prefix: ctx.prefix, log: ctx.log }, letter.id)).toMatchObject({ outcome: "retried" });
  await waitFor("the re-driven run", () => named("process job.run", "mailer").length === 2);

  const [, redriven] = named("process job.run", "mailer");
  expect(redriven!.parentSpanContext).toBeUndefined();
  expect(redriven!.spanContext().traceId).not.toBe(traceId);
  expect(redriven!.links.map((l) => [l.context.traceId, l.context.spanId])).toEqual([[traceId, writerSpan]]);
  // A re-drive is published for one handler: no new publish span in the event's trace.
  expect(named("publish job.run").length).toBe(1);
});

test("without an SDK nothing is traced and writeEvent stores no context, but the relay carries a context stored by SQL", async () => {
  const api = await startTestApi(ctx, { subscriptions: [subscribe({ handler: "noop", eventType: "job.run", schema: job, handle: async () => {} })] });
  const product = await createProduct(api, "tenant-1", "MUG", 5);
  const res = await api.call("POST", "/orders", orderBody("tenant-1", [{ productId: product.id, quantity: 1 }]), { traceparent: `00-${hex(16)}-${hex(8)}-01` });
  expect(res.status).toBe(201);
  const rows = await ctx.sql`select trace_context from outbox where event_type in ('product.created', 'order.created')`;
  expect(rows.map((r) => r.trace_context)).toEqual([null, null]);

  const traceparent = `00-${hex(16)}-${hex(8)}-01`;
  const id = await insertTraced("job.run", { traceparent, tracestate: "vendor=abc" });
  await waitFor("the job processed", async () => (await ctx.sql`select 1 from processed_events where event_id = ${id}`).length === 1);
  const entries = await ctx.redis.xrange(keys.stream(ctx.prefix, "job.run"), "-", "+");
  expect(entries[0]![1]).toEqual(expect.arrayContaining(["traceparent", traceparent, "tracestate", "vendor=abc"]));
  expect(exporter.getFinishedSpans()).toEqual([]);
});

test("a trace_context that is not a valid traceparent is left out and its event delivered all the same", async () => {
  await trace();
  await ctx.startEngine([subscribe({ handler: "noop", eventType: "job.run", schema: job, handle: async () => {} })]);
  const ids = [
    await insertTraced("job.run", { traceparent: "garbage" }),
    await insertTraced("job.run", { traceparent: `00-${hex(16).toUpperCase()}-${hex(8)}-01` }),
    await insertTraced("job.run", "00-not-an-object"),
  ];
  await waitFor("all three processed", async () => (await ctx.sql`select 1 from processed_events where event_id = any(${ids}::uuid[])`).length === 3);
  const entries = await ctx.redis.xrange(keys.stream(ctx.prefix, "job.run"), "-", "+");
  // Each gets a publish span of its own, at the root of a new trace, which its entry carries.
  const publishes = named("publish job.run");
  expect(publishes.map((s) => s.parentSpanContext)).toEqual([undefined, undefined, undefined]);
  expect(entries.map(([, f]) => f[f.indexOf("traceparent") + 1]!.split("-")[2]).sort()).toEqual(publishes.map(idOf).sort());
});

test("a traceparent is read as W3C Trace Context defines it", () => {
  const [t, s] = [hex(16), hex(8)];
  expect(parseCarrier(`00-${t}-${s}-01`, "a=1")).toEqual({ traceparent: `00-${t}-${s}-01`, tracestate: "a=1" });
  expect(parseCarrier(`01-${t}-${s}-00-later-fields`)).toEqual({ traceparent: `00-${t}-${s}-00` });
  expect(parseCarrier(`00-${t}-${s}-01-extra`)).toBeNull();
  expect(parseCarrier(`ff-${t}-${s}-01`)).toBeNull();
  expect(parseCarrier(`00-${"0".repeat(32)}-${s}-01`)).toBeNull();
  expect(parseCarrier(`00-${t}-${"0".repeat(16)}-01`)).toBeNull();
  expect(parseCarrier(`00-${t}-${s}-01`, "x".repeat(513))).toEqual({ traceparent: `00-${t}-${s}-01` });
  expect(parseCarrier(null)).toBeNull();
});
