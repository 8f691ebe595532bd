import type { z } from "zod";
import type { Schema } from "../db/client.ts";
import { eventSchemas, type EventPayload, type EventType } from "../events/catalog.ts";
import { subscribe, type BatchHandlerFn, type HandlerFn, type HandlerOptions, type StreamEvent, type Subscription } from "../engine/index.ts";

export type OnOptions<T extends EventType> = Partial<HandlerOptions> & { lockKey?: (event: StreamEvent<EventPayload<T>>) => string };

/** `handler` runs for every `eventType` event, its payload checked by the event catalog's schema. */
export function on<T extends EventType>(eventType: T, handler: string, handle: HandlerFn<EventPayload<T>, Schema>, options: OnOptions<T> = {}): Subscription {
  return define(eventType, handler, { handle }, options);
}

/**
 * Like `on`, set-based: `handleBatch` gets every new event of a delivery at once, in one
 * transaction (and a single event when a failed batch is run again one event at a time).
 */
export function onBatch<T extends EventType>(eventType: T, handler: string, handleBatch: BatchHandlerFn<EventPayload<T>, Schema>, options: OnOptions<T> = {}): Subscription {
  return define(eventType, handler, { handleBatch }, options);
}

function define<T extends EventType>(
  eventType: T, handler: string,
  fns: { handle?: HandlerFn<EventPayload<T>, Schema>; handleBatch?: BatchHandlerFn<EventPayload<T>, Schema> },
  { lockKey, ...options }: OnOptions<T>,
): Subscription {
  const schema = eventSchemas[eventType] as unknown as z.ZodType<EventPayload<T>>;
  return subscribe<typeof schema, Schema>({ handler, eventType, schema, ...fns, options, lockKey }) as Subscription;
}
