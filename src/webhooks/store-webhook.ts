import type { Db } from "../db/client.ts";
import { webhookPayloads } from "../db/schema.ts";
import { commitWithEvents, writeEvent, type Waker } from "../engine/index.ts";

export interface IncomingWebhook {
  provider: string;
  /** The sender's delivery id (for Shopee a digest of the body). */
  webhookId: string;
  eventType: string;
  /** The body exactly as verified. */
  rawBody: string;
}

export type StoredWebhook = { duplicate: false; id: string } | { duplicate: true };

/**
 * Stores a verified webhook and its `webhook.received` event in one transaction. The same
 * (provider, webhookId) again stores and emits nothing and says `duplicate`; safe to call twice,
 * concurrently too (the second insert waits for the first and then finds it).
 */
export async function storeWebhook(db: Db, relay: Waker | undefined, w: IncomingWebhook): Promise<StoredWebhook> {
  return commitWithEvents(db, relay, async (tx) => {
    const [row] = await tx.insert(webhookPayloads).values(w)
      .onConflictDoNothing({ target: [webhookPayloads.provider, webhookPayloads.webhookId] })
      .returning({ id: webhookPayloads.id });
    if (!row) return { duplicate: true };
    await writeEvent(tx, {
      eventType: "webhook.received",
      aggregateId: row.id,
      payload: { webhookPayloadId: row.id, provider: w.provider, webhookId: w.webhookId, type: w.eventType },
    });
    return { duplicate: false, id: row.id };
  });
}
