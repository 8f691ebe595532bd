import { eventSchemas, type EventPayload, type EventType } from "../events/catalog.ts";
import { subscribe, type HandlerFn, type HandlerOptions, type Subscription } from "../streams/handler.ts";

/** `handler` runs for every `eventType` event, its payload checked by the event catalog's schema. */
export function on<T extends EventType>(eventType: T, handler: string, handle: HandlerFn<EventPayload<T>>, options?: Partial<HandlerOptions>): Subscription {
  return subscribe({ handler, eventType, schema: eventSchemas[eventType], handle: handle as HandlerFn<unknown>, ...(options ? { options } : {}) });
}
