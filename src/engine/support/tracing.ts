import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer, type TracerProvider } from "@opentelemetry/api";
import { carrierOf, spanContextOf, type TraceCarrier } from "./trace-context.ts";

// The engine speaks only the vendor-neutral API: the process that embeds it registers an SDK (or not).
const SCOPE = "orderstream-engine";
const SYSTEM = "redis";

/**
 * The tracer to record the engine's spans with, or null when no OpenTelemetry SDK is registered.
 * Called once per batch: with null, the relay and the pipeline do no tracing work per event.
 */
export function activeTracer(): Tracer | null {
  const provider = trace.getTracerProvider() as TracerProvider & { getDelegateTracer?(name: string): Tracer | undefined };
  // The API's global proxy has a delegate only once an SDK is registered; a provider registered
  // some other way is taken as it is.
  if (typeof provider.getDelegateTracer === "function") return provider.getDelegateTracer(SCOPE) ?? null;
  return provider.getTracer(SCOPE);
}

/** A context whose parent span is `carrier`'s, on an empty context (never the caller's, which may be anything). */
function contextOf(carrier: TraceCarrier | null): Context {
  return carrier ? trace.setSpanContext(ROOT_CONTEXT, spanContextOf(carrier)) : ROOT_CONTEXT;
}

/** A PRODUCER span `publish <event type>` for one outbox row, a child of the context it was written in. */
export function startPublishSpan(tracer: Tracer, stream: string, event: { id: string; type: string }, stored: TraceCarrier | null): Span {
  return tracer.startSpan(`publish ${event.type}`, {
    kind: SpanKind.PRODUCER,
    attributes: {
      "messaging.system": SYSTEM,
      "messaging.system.name": SYSTEM,
      "messaging.operation.type": "send",
      "messaging.operation.name": "publish",
      "messaging.destination.name": stream,
      "messaging.message.id": event.id,
    },
  }, contextOf(stored));
}

/** The context a stream entry carries: the publish span's, or what was stored when it records nothing. */
export function carrierOfSpan(span: Span, fallback: TraceCarrier | null): TraceCarrier | null {
  return carrierOf(span.spanContext()) ?? fallback;
}

/** Ends a publish span with the XADD's outcome: the entry id, or the error. */
export function endPublishSpan(span: Span, result: string | Error): void {
  if (result instanceof Error) failSpan(span, result);
  else span.setAttribute("orderstream.entry_id", result);
  span.end();
}

export interface ProcessRun {
  event: { id: string; type: string; target: string | null };
  attempt: number;
  entryId?: string;
  /** Redis' delivery count; above 1 the entry was delivered before (a crash, a retry). */
  deliveries?: number;
  /** What the entry carries: the publish span's context, or for a re-drive the event's stored one. */
  carrier: TraceCarrier | null;
}

/**
 * A CONSUMER span `process <event type>` for one handler run of one event. On a first delivery it is
 * a child of the context the entry carries; a retry, a redelivery or a re-drive (dead-letter retry,
 * recovery) starts a trace of its own that links to that context instead, so a run days later does
 * not stretch the original trace.
 */
export function startProcessSpan(tracer: Tracer, stream: string, handler: string, run: ProcessRun, batchSize: number): Span {
  const first = run.attempt === 1 && (run.deliveries ?? 1) === 1 && !run.event.target;
  const attributes: Record<string, string | number> = {
    "messaging.system": SYSTEM,
    "messaging.system.name": SYSTEM,
    "messaging.operation.type": "process",
    "messaging.operation.name": "process",
    "messaging.destination.name": stream,
    "messaging.consumer.group.name": handler,
    "messaging.message.id": run.event.id,
    "orderstream.attempt": run.attempt,
  };
  if (run.entryId) attributes["orderstream.entry_id"] = run.entryId;
  if (batchSize > 1) attributes["messaging.batch.message_count"] = batchSize;
  const linked = !first && run.carrier ? [{ context: spanContextOf(run.carrier) }] : undefined;
  return tracer.startSpan(`process ${run.event.type}`, {
    kind: SpanKind.CONSUMER, attributes, ...(linked ? { links: linked } : {}),
  }, first ? contextOf(run.carrier) : ROOT_CONTEXT);
}

/** Runs `fn` with `span` active, so events it writes (ctx.writeEvent) continue the span's trace. */
export function withSpan<T>(span: Span, fn: () => T): T {
  return context.with(trace.setSpan(ROOT_CONTEXT, span), fn);
}

/** Ends spans: OK, or with the error that ended the run. */
export function endSpans(spans: readonly Span[], error?: Error): void {
  for (const span of spans) {
    if (error) failSpan(span, error);
    span.end();
  }
}

function failSpan(span: Span, error: Error): void {
  span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}
