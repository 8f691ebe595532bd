import type { Subscription } from "../streams/handler.ts";
import type { HandlerDeps } from "./index.ts";

// Filled in by the webhook work: webhook.received -> applies a stored webhook.
export function webhookHandlers(_deps: HandlerDeps): Subscription[] {
  return [];
}
