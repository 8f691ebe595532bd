import { applyWebhook } from "../webhooks/apply-webhook.ts";
import { completeWebhook, failWebhook, loadWebhook, markWebhookProcessing } from "../webhooks/webhook-store.ts";
import type { HandlerDeps } from "./index.ts";
import { on } from "./on.ts";
import { toError, UnrecoverableError, type Subscription } from "../engine/index.ts";

/**
 * webhook.received: applies a stored, verified webhook and moves its row
 * pending -> processing -> completed | failed. `processing` and `failed` (with retry_count and
 * last_error) are written through deps.db, outside the engine's transaction, so they stay visible
 * when that transaction rolls back; `completed` commits with the effect and its processed_events
 * record, so a webhook is applied and completed exactly once.
 */
export function webhookHandlers(deps: HandlerDeps): Subscription[] {
  return [
    on("webhook.received", "webhooks", async (event, ctx) => {
      const id = event.payload.webhookPayloadId;
      const row = await loadWebhook(ctx.tx, id);
      if (!row) throw new UnrecoverableError(`webhook payload ${id} does not exist`);
      if (row.status === "completed") return;
      await markWebhookProcessing(deps.db, id);
      try {
        await completeWebhook(ctx.tx, id, await applyWebhook(ctx, row, deps.webhookScopes ?? new Map()));
      } catch (thrown) {
        await failWebhook(deps.db, id, toError(thrown).message).catch((err) =>
          ctx.log.warn("could not record the webhook's failure", { webhookPayloadId: id, err: toError(err) }),
        );
        throw thrown;
      }
    }, {
      // MUST stay below the PostgreSQL pool size (10): each run holds the engine's transaction
      // while it takes a second connection for the status updates, so a pool filled with such
      // runs would wait on each other until the handler timeout.
      concurrency: 4,
      // One event per transaction, like inventory: a stock or price webhook locks a product row
      // that every order of its tenant shares, and a batch would take those locks in event order
      // and hold them until its last event, deadlocking with inventory's sorted locks.
      batchSize: 1,
    }),
  ];
}
