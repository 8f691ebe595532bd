import { sql } from "drizzle-orm";
import { integer, pgTable, text, timestamp, unique, uuid } from "drizzle-orm/pg-core";

export type WebhookStatus = "pending" | "processing" | "completed" | "failed";

/** Every verified webhook, raw, as received; the webhooks handler moves it through its statuses. */
export const webhookPayloads = pgTable(
  "webhook_payloads",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
    provider: text("provider").notNull(),
    /** The sender's id (`webhook-id` header; for Shopee a digest of the body): a replay is refused. */
    webhookId: text("webhook_id").notNull(),
    eventType: text("event_type").notNull(),
    rawBody: text("raw_body").notNull(),
    status: text("status").$type<WebhookStatus>().notNull().default("pending"),
    retryCount: integer("retry_count").notNull().default(0),
    lastError: text("last_error"),
    /** `applied`, or `ignored` for a type the service does not act on. */
    result: text("result"),
    receivedAt: timestamp("received_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
    processedAt: timestamp("processed_at", { withTimezone: true }),
  },
  (t) => [unique("webhook_payloads_provider_webhook_unique").on(t.provider, t.webhookId)],
);
