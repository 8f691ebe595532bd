import type { z } from "zod";
import type { Schema } from "../db/client.ts";
import { eventSchemas, type EventPayload, type EventType } from "../events/catalog.ts";
import { subscribe, type HandlerFn, type HandlerOptions, type StreamEvent, type Subscription } from "../engine/index.ts";

export type OnOptions<T extends EventType> = Partial<HandlerOptions> & { lockKey?: (event: StreamEvent<EventPayload<T>>) => string };

/** `handler` runs for every `eventType` event, its payload checked by the event catalog's schema. */
export function on<T extends EventType>(eventType: T, handler: string, handle: HandlerFn<EventPayload<T>, Schema>, options: OnOptions<T> = {}): Subscription {
  const { lockKey, ...rest } = options;
  const schema = eventSchemas[eventType] as unknown as z.ZodType<EventPayload<T>>;
  return subscribe<typeof schema, Schema>({ handler, eventType, schema, handle, options: rest, lockKey }) as Subscription;
}
