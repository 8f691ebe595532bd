import { context, createTraceState, isSpanContextValid, trace, type SpanContext } from "@opentelemetry/api";

/**
 * A W3C trace context as it travels with an event: in the outbox column `trace_context` (as JSON)
 * and as the stream entry's `traceparent` and `tracestate` fields.
 */
export interface TraceCarrier {
  /** `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`. */
  traceparent: string;
  /** Only when the context has one. */
  tracestate?: string;
}

// Lower-case hex only, as W3C Trace Context requires. Version ff is invalid; version 00 has exactly
// four fields, and a later version may append more after a dash (read as version 00).
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
// Propagators need handle no more than this; a longer one (a hand-written row) is dropped, not truncated.
const MAX_TRACESTATE = 512;

/**
 * The carrier for a stored or received `traceparent` (and `tracestate`), or null when it is absent
 * or not valid: a row written by hand with a bad value is delivered without a trace, never refused.
 */
export function parseCarrier(traceparent: string | null | undefined, tracestate?: string | null): TraceCarrier | null {
  if (!traceparent || traceparent.length > 256) return null;
  const m = TRACEPARENT.exec(traceparent);
  if (!m || m[1] === "ff" || (m[1] === "00" && m[5] !== undefined)) return null;
  if (/^0+$/.test(m[2]!) || /^0+$/.test(m[3]!)) return null;
  const canonical = `00-${m[2]}-${m[3]}-${m[4]}`;
  return tracestate && tracestate.length <= MAX_TRACESTATE ? { traceparent: canonical, tracestate } : { traceparent: canonical };
}

/** The remote span context a carrier names (call only with a carrier from parseCarrier). */
export function spanContextOf(carrier: TraceCarrier): SpanContext {
  const [, traceId, spanId, flags] = carrier.traceparent.split("-");
  return {
    traceId: traceId!, spanId: spanId!, traceFlags: Number.parseInt(flags!, 16) & 0xff, isRemote: true,
    ...(carrier.tracestate ? { traceState: createTraceState(carrier.tracestate) } : {}),
  };
}

/** The carrier of a span context, or null for an invalid one (the no-op tracer's). */
export function carrierOf(sc: SpanContext): TraceCarrier | null {
  if (!isSpanContextValid(sc)) return null;
  const traceparent = `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, "0")}`;
  const tracestate = sc.traceState?.serialize();
  return tracestate ? { traceparent, tracestate } : { traceparent };
}

/**
 * The value of the outbox column `trace_context` for an event written now: the active span's
 * context as JSON, or null when no span is active (always so when no OpenTelemetry SDK is registered).
 */
export function activeTraceContext(): string | null {
  const sc = trace.getSpanContext(context.active());
  const carrier = sc && carrierOf(sc);
  return carrier ? JSON.stringify(carrier) : null;
}
