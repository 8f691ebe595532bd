import { z } from "zod";
import { fieldOf, fieldsOf } from "./fields.ts";
import { parseCarrier, type TraceCarrier } from "../support/trace-context.ts";

/** An event as it travels on a stream and reaches a handler. */
export interface StreamEvent<P = unknown> {
  id: string;
  type: string;
  aggregateId: string | null;
  tenantId: string | null;
  occurredAt: string;
  payload: P;
  /** Set when the entry re-drives one handler only (dead-letter retry, recovery); others skip it. */
  target: string | null;
}

export type EventFields = Omit<StreamEvent, "payload" | "target"> & { payload: string; target?: string | null; trace?: TraceCarrier | null };

/**
 * Flat field list for XADD. The payload is kept as the JSON text it was stored as; `traceparent`
 * (and `tracestate`) only when the event has a trace context.
 */
export function encodeEvent(e: EventFields): string[] {
  const fields = [
    "id", e.id,
    "type", e.type,
    "aggregateId", e.aggregateId ?? "",
    "tenantId", e.tenantId ?? "",
    "occurredAt", e.occurredAt,
    "payload", e.payload,
  ];
  if (e.target) fields.push("target", e.target);
  if (e.trace) {
    fields.push("traceparent", e.trace.traceparent);
    if (e.trace.tracestate) fields.push("tracestate", e.trace.tracestate);
  }
  return fields;
}

/** The trace context an entry carries, or null (none, or not a valid one). */
export function decodeTrace(fields: readonly string[]): TraceCarrier | null {
  return parseCarrier(fieldOf(fields, "traceparent"), fieldOf(fields, "tracestate"));
}

const uuid = z.uuid();

/** Reads an entry's field list; an entry that is not one of ours yields an error message instead. */
export function decodeEntry(fields: string[]): { event: StreamEvent } | { error: string } {
  const map = fieldsOf(fields) as Record<string, string | undefined>;
  const id = map.id;
  const type = map.type;
  const raw = map.payload;
  if (!id || !uuid.safeParse(id).success) return { error: "entry has no valid event id" };
  if (!type) return { error: "entry has no event type" };
  if (raw === undefined) return { error: "entry has no payload" };
  let payload: unknown;
  try {
    payload = JSON.parse(raw);
  } catch {
    return { error: "entry payload is not JSON" };
  }
  return {
    event: {
      id,
      type,
      aggregateId: map.aggregateId || null,
      tenantId: map.tenantId || null,
      occurredAt: map.occurredAt ?? "",
      payload,
      target: map.target || null,
    },
  };
}
