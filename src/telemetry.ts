import { context, diag, DiagLogLevel, propagation, trace, type DiagLogger } from "@opentelemetry/api";
import type { SpanExporter } from "@opentelemetry/sdk-trace-base";
import type { Logger } from "./lib/logger.ts";

export interface TracingOptions {
  serviceName: string;
  version: string;
  /** This process among the fleet's (the consumer name): the resource's `service.instance.id`. */
  instanceId?: string;
  /** OTEL_EXPORTER_OTLP_ENDPOINT: spans go there over OTLP/HTTP (`<endpoint>/v1/traces`), in batches. */
  endpoint?: string;
  /** Instead of OTLP: every span goes to this exporter as it ends (tests use an in-memory one). */
  exporter?: SpanExporter;
  /** Where the SDK's own problems (a collector that cannot be reached) are reported. */
  log?: Logger;
}

export interface Tracing {
  /**
   * Sends the spans still buffered, waiting for at most `timeoutMs` (a collector that does not
   * answer must not hold the process past its kill timeout), then unregisters the SDK: from then on
   * nothing is recorded. Defaults to 2 s.
   */
  shutdown(timeoutMs?: number): Promise<void>;
}

// The SDK reports a failing export every few seconds: one line a minute is enough to notice.
const PROBLEM_INTERVAL_MS = 60_000;
const SHUTDOWN_EXPORT_MS = 2_000;

/**
 * Registers the OpenTelemetry SDK for this process (tracer provider, W3C trace-context propagation,
 * the async context that makes a request's or a handler run's span the active one), or returns null
 * when there is nowhere to send spans: then nothing is registered, the engine and the HTTP API see
 * the API's no-op tracer, and tracing costs nothing: the SDK is not even loaded (about 9 MB of
 * resident memory saved).
 */
export async function startTracing(opts: TracingOptions): Promise<Tracing | null> {
  if (!opts.endpoint && !opts.exporter) return null;
  const [{ AsyncLocalStorageContextManager }, { W3CTraceContextPropagator }, { OTLPTraceExporter }, { resourceFromAttributes },
    { BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor }, { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION }] = await Promise.all([
    import("@opentelemetry/context-async-hooks"), import("@opentelemetry/core"), import("@opentelemetry/exporter-trace-otlp-http"),
    import("@opentelemetry/resources"), import("@opentelemetry/sdk-trace-base"), import("@opentelemetry/semantic-conventions"),
  ]);
  const resource = resourceFromAttributes({
    [ATTR_SERVICE_NAME]: opts.serviceName,
    [ATTR_SERVICE_VERSION]: opts.version,
    ...(opts.instanceId ? { "service.instance.id": opts.instanceId } : {}),
  });
  const processor = opts.exporter
    ? new SimpleSpanProcessor(opts.exporter)
    : new BatchSpanProcessor(new OTLPTraceExporter({ url: tracesUrl(opts.endpoint!) }));
  const provider = new BasicTracerProvider({ resource, spanProcessors: [processor] });
  if (opts.log) diag.setLogger(diagLogger(opts.log), DiagLogLevel.WARN);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  return {
    async shutdown(timeoutMs = SHUTDOWN_EXPORT_MS) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const given = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
      try {
        await Promise.race([provider.shutdown(), given]);
      } finally {
        clearTimeout(timer);
        trace.disable();
        propagation.disable();
        context.disable();
        diag.disable();
      }
    },
  };
}

/** The OTLP/HTTP traces URL for a base endpoint, as the OpenTelemetry specification builds it. */
export function tracesUrl(endpoint: string): string {
  return `${endpoint.replace(/\/+$/, "")}/v1/traces`;
}

function diagLogger(log: Logger): DiagLogger {
  let lastAt = 0;
  let suppressed = 0;
  const report = (message: string) => {
    const now = Date.now();
    if (now - lastAt < PROBLEM_INTERVAL_MS) {
      suppressed++;
      return;
    }
    log.warn("tracing: OpenTelemetry reported a problem", { problem: message.slice(0, 500), ...(suppressed ? { suppressedSinceLast: suppressed } : {}) });
    lastAt = now;
    suppressed = 0;
  };
  const ignore = () => {};
  return { error: report, warn: report, info: ignore, debug: ignore, verbose: ignore };
}
