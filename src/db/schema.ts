import { sql } from "drizzle-orm";
import { index, jsonb, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";

/**
 * The transactional outbox. A public contract: other services INSERT into it with plain SQL, so
 * these column names and types never change; new columns must have defaults.
 */
export const outbox = pgTable(
  "outbox",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
    eventType: text("event_type").notNull(),
    aggregateId: text("aggregate_id"),
    tenantId: text("tenant_id"),
    payload: jsonb("payload").notNull(),
    idempotencyKey: text("idempotency_key").unique(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    publishedAt: timestamp("published_at", { withTimezone: true }),
    /** The Redis Stream entry id the relay last published this row as; finds the row again if the entry is deleted. */
    streamId: text("stream_id"),
  },
  (t) => [
    index("outbox_unpublished_idx").on(t.createdAt).where(sql`${t.publishedAt} is null`),
    index("outbox_published_idx").on(t.publishedAt).where(sql`${t.publishedAt} is not null`),
    index("outbox_stream_id_idx").on(t.eventType, t.streamId),
  ],
);

/** One row per (handler, event) whose effects committed: the guard that makes effects exactly-once. */
export const processedEvents = pgTable(
  "processed_events",
  {
    handler: text("handler").notNull(),
    eventId: uuid("event_id").notNull(),
    processedAt: timestamp("processed_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.handler, t.eventId] }), index("processed_events_event_idx").on(t.eventId)],
);
