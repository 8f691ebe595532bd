import type { Subscription } from "../streams/handler.ts";

/**
 * Every subscription the service runs. Add a handler in a file of its own beside this one and
 * list it here; see README "Adding a handler".
 */
export function createSubscriptions(): Subscription[] {
  return [];
}
