import { eventSchemas, type EventPayload, type EventType } from "../events/catalog.ts";
import type { StreamEvent } from "../streams/entry.ts";
import { subscribe, type HandlerFn, type HandlerOptions, type Subscription } from "../streams/handler.ts";

export type OnOptions<T extends EventType> = Partial<HandlerOptions> & { lockKey?: (event: StreamEvent<EventPayload<T>>) => string };

/** `handler` runs for every `eventType` event, its payload checked by the event catalog's schema. */
export function on<T extends EventType>(eventType: T, handler: string, handle: HandlerFn<EventPayload<T>>, options: OnOptions<T> = {}): Subscription {
  const { lockKey, ...rest } = options;
  return subscribe({
    handler, eventType, schema: eventSchemas[eventType], handle: handle as HandlerFn<unknown>,
    options: rest, lockKey: lockKey as ((event: StreamEvent<unknown>) => string) | undefined,
  });
}
