// Every table, for drizzle (queries) and drizzle-kit (migrations). One file per table group.
export * from "./schema/analytics.ts";
export * from "./schema/engine.ts";
export * from "./schema/http.ts";
export * from "./schema/notifications.ts";
export * from "./schema/shop.ts";
export * from "./schema/webhooks.ts";
