import { z } from "zod";
import { fieldsOf } from "./fields.ts";

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

export type EventFields = Omit<StreamEvent, "payload" | "target"> & { payload: string; target?: string | null };

/** Flat field list for XADD. The payload is kept as the JSON text it was stored as. */
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
  return fields;
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
