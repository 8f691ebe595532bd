import type Redis from "ioredis";
import type { OutboxRow } from "./claim.ts";
import { encodeEvent } from "../redis/entry.ts";
import { isReservedEventType, keys } from "../redis/keys.ts";
import { parseCarrier } from "../support/trace-context.ts";
import { activeTracer, carrierOfSpan, endPublishSpan, startPublishSpan } from "../support/tracing.ts";
import type { Span } from "@opentelemetry/api";
import { SINGLE_PARTITION, type Keyed, type Layout } from "../partitions/layout.ts";

/** An outbox row as the layout reads its partition key. */
export function keyedRow(row: OutboxRow): Keyed {
  return { id: row.id, type: row.event_type, aggregateId: row.aggregate_id, tenantId: row.tenant_id, payload: () => JSON.parse(row.payload) };
}

/** The row's event type names one of the service's own keys: no stream may be written there. */
export class ReservedTypeError extends Error {
  override name = "ReservedTypeError";
}

/**
 * True when an XADD failed because of the row itself (its type is reserved, or its stream key
 * holds something that is not a stream), so retrying cannot help; false for Redis being down,
 * out of memory or read-only, which retrying fixes.
 */
export function isUnpublishable(err: Error): boolean {
  return err instanceof ReservedTypeError || err.name === "ReservedTypeError" || err.message.startsWith("WRONGTYPE");
}

/**
 * XADDs each row to its partition's stream (`layout`; `<prefix>:<event_type>` with one partition)
 * in one pipeline, in row order, and returns, in row order, each new
 * entry id or the error that row's XADD failed with. One row failing does not undo the others.
 * Each entry carries the row's trace context; with an SDK registered, each row gets a span
 * `publish <type>` and the entry carries that span's context instead. A re-drive (`target`) gets
 * no span and carries the stored context, to which its run links.
 */
export async function xaddRows(redis: Redis, prefix: string, rows: OutboxRow[], target?: string, layout: Layout = SINGLE_PARTITION): Promise<(string | Error)[]> {
  const pipeline = redis.pipeline();
  const sent: number[] = [];
  const tracer = target ? null : activeTracer();
  const spans: Span[] = [];
  const out: (string | Error)[] = rows.map((row) =>
    isReservedEventType(row.event_type) ? new ReservedTypeError(`event type "${row.event_type}" is reserved: its stream key is one of the service's own`) : "",
  );
  for (const [i, row] of rows.entries()) {
    if (out[i] instanceof Error) continue;
    sent.push(i);
    const stream = keys.stream(prefix, row.event_type, layout.partitionOf(keyedRow(row)));
    let trace = parseCarrier(row.traceparent, row.tracestate);
    if (tracer) {
      const span = (spans[i] = startPublishSpan(tracer, stream, { id: row.id, type: row.event_type }, trace));
      trace = carrierOfSpan(span, trace);
    }
    const fields = encodeEvent({
      id: row.id,
      type: row.event_type,
      aggregateId: row.aggregate_id,
      tenantId: row.tenant_id,
      occurredAt: new Date(row.created_at).toISOString(),
      payload: row.payload,
      target: target ?? null,
      trace,
    });
    pipeline.xadd(stream, "*", ...fields);
  }
  const results = sent.length ? ((await pipeline.exec().catch((err: Error) => {
    if (tracer) spans.forEach((span) => endPublishSpan(span, err));
    throw err;
  })) ?? []) : [];
  sent.forEach((rowIndex, i) => {
    const [err, id] = results[i] ?? [new Error("no reply"), null];
    out[rowIndex] = err ?? (typeof id === "string" ? id : new Error(`XADD for outbox row ${rows[rowIndex]!.id} returned no id`));
  });
  if (tracer) spans.forEach((span, i) => endPublishSpan(span, out[i]!));
  return out;
}

/** Like xaddRows, but throws if any XADD failed; the entries that did get in are absorbed as duplicates by the consumers. */
export async function publishRows(redis: Redis, prefix: string, rows: OutboxRow[], target?: string, layout?: Layout): Promise<string[]> {
  return (await xaddRows(redis, prefix, rows, target, layout)).map((result) => {
    if (result instanceof Error) throw result;
    return result;
  });
}
