import type { Db } from "../db/client.ts";
import type { Logger } from "../lib/logger.ts";
import { logTransport, type Transport } from "../notifications/transport.ts";
import { analyticsHandlers } from "./analytics.ts";
import { inventoryHandlers } from "./inventory.ts";
import { notificationHandlers } from "./notifications.ts";
import { paymentHandlers } from "./payments.ts";
import { webhookHandlers } from "./webhooks.ts";
import type { Subscription } from "../engine/index.ts";
import type { WebhookScopes } from "../webhooks/scopes.ts";

export interface HandlerDeps {
  db: Db;
  log: Logger;
  /** Where e-mails go; the log by default. */
  transport?: Transport;
  /** WEBHOOK_SCOPES, checked again when a webhook is applied. Defaults to none: every provider has the default scope. */
  webhookScopes?: WebhookScopes;
}

/**
 * Every subscription the service runs. Add a handler in a file of its own beside this one and
 * list it here; see README "Adding a handler".
 */
export function createSubscriptions(deps: HandlerDeps): Subscription[] {
  return [
    ...inventoryHandlers(),
    ...paymentHandlers(),
    ...notificationHandlers(deps.transport ?? logTransport(deps.log.child({ component: "notifications" }))),
    ...analyticsHandlers(),
    ...webhookHandlers(deps),
  ];
}
