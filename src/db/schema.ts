// Every table, for drizzle (queries) and drizzle-kit (migrations). One file per table group.
export * from "./schema/analytics.ts";
export * from "./schema/api-keys.ts";
// The engine's own tables (outbox, processed_events, dead_letters) live in src/engine/schema.ts;
// drizzle.config.ts reads both files, so one migration history covers them.
export * from "./schema/http.ts";
export * from "./schema/notifications.ts";
export * from "./schema/shop.ts";
export * from "./schema/webhooks.ts";
