import { index, integer, jsonb, pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";

/**
 * `Idempotency-Key` of write requests: the first response is kept and returned again for the same
 * key and body. Written in the transaction that makes the change, so a key is taken only if the
 * change committed. `scope` names the operation and the tenant; keys expire (created_at) and are
 * deleted by a periodic job, oldest first.
 */
export const idempotencyKeys = pgTable(
  "idempotency_keys",
  {
    scope: text("scope").notNull(),
    key: text("key").notNull(),
    requestHash: text("request_hash").notNull(),
    /** Null only inside the transaction that took the key; set before it commits. */
    statusCode: integer("status_code"),
    response: jsonb("response"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.scope, t.key] }), index("idempotency_keys_created_idx").on(t.createdAt)],
);
