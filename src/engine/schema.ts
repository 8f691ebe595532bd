import { sql } from "drizzle-orm";
import { bigint, bigserial, boolean, index, integer, jsonb, pgSequence, pgTable, primaryKey, smallint, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";

/** Numbers outbox rows as they are inserted (outbox.position). */
export const outboxPositionSeq = pgSequence("outbox_position_seq");

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
    /** The partition of its type's stream the relay last published it to (with stream_id); null for 0. */
    streamPartition: integer("stream_partition"),
    /** A delayed event: not published before this time. Null: at once. */
    availableAt: timestamp("available_at", { withTimezone: true }),
    /**
     * 0 to 10, higher first when the relay has a backlog. Left null on insert, it takes the event
     * type's priority (event_priorities, kept by the engine from its options), else 0.
     */
    priority: smallint("priority"),
    /**
     * The W3C trace context the event was written in, `{"traceparent": "00-...", "tracestate": "..."}`
     * (tracestate only when set): its handler runs continue that trace. Null: no trace.
     */
    traceContext: jsonb("trace_context"),
    /**
     * Insertion order, from a sequence: orders rows written in one transaction, which share
     * created_at (the transaction's start). Null on rows written before it was added.
     */
    position: bigint("position", { mode: "number" }).default(sql`nextval('outbox_position_seq')`),
  },
  (t) => [
    // The relay's two ways into the backlog of rows due now: oldest first, and by priority.
    // position breaks created_at's ties in the index itself: a burst written in one transaction
    // shares one created_at, and sorting it whole for every batch made a relay drain quadratic.
    index("outbox_unpublished_idx").on(t.createdAt, t.position).where(sql`${t.publishedAt} is null and ${t.availableAt} is null`),
    index("outbox_priority_idx").on(t.priority.desc(), t.createdAt, t.position).where(sql`${t.publishedAt} is null and ${t.availableAt} is null`),
    index("outbox_delayed_idx").on(t.availableAt).where(sql`${t.publishedAt} is null and ${t.availableAt} is not null`),
    index("outbox_published_idx").on(t.publishedAt).where(sql`${t.publishedAt} is not null`),
    index("outbox_stream_id_idx").on(t.eventType, t.streamId),
  ],
);

/**
 * One row per (handler, event) that is settled: its effects committed (`processed`), or an
 * operator discarded its dead letter (`discarded`). The guard that makes effects exactly-once.
 */
export const processedEvents = pgTable(
  "processed_events",
  {
    handler: text("handler").notNull(),
    eventId: uuid("event_id").notNull(),
    processedAt: timestamp("processed_at", { withTimezone: true }).notNull().defaultNow(),
    outcome: text("outcome").notNull().default("processed"),
  },
  // Event first: one index serves both the lookups of (handler, event) and those of an event's
  // records (retention, recovery); a second index would cost every claim an extra insertion.
  (t) => [primaryKey({ name: "processed_events_pkey", columns: [t.eventId, t.handler] })],
);

/**
 * The durable record of every dead letter (the Redis `<prefix>:dlq` stream is its fast copy):
 * it survives Redis losing its data, and `/dlq` reads it. `open` until retried or deleted.
 */
export const deadLetters = pgTable(
  "dead_letters",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
    /** Null only for a stream entry that carried no valid event id (reason `malformed_entry`). */
    eventId: uuid("event_id"),
    eventType: text("event_type").notNull(),
    handler: text("handler").notNull(),
    stream: text("stream").notNull(),
    entryId: text("entry_id").notNull(),
    reason: text("reason").notNull(),
    error: text("error").notNull(),
    attempts: integer("attempts").notNull(),
    /** The payload as JSON text, exactly as it was on the stream. */
    payload: text("payload").notNull(),
    aggregateId: text("aggregate_id"),
    tenantId: text("tenant_id"),
    occurredAt: timestamp("occurred_at", { withTimezone: true }),
    failedAt: timestamp("failed_at", { withTimezone: true }).notNull().defaultNow(),
    /** open, retried, discarded, or resolved (a later run of the event by this handler succeeded). */
    status: text("status").notNull().default("open"),
    resolvedAt: timestamp("resolved_at", { withTimezone: true }),
    /** The entry id of its copy in the Redis dead-letter stream, removed on retry or delete. */
    dlqEntryId: text("dlq_entry_id"),
  },
  (t) => [
    // A redelivery of one entry (a crash between recording and acking) records it once.
    uniqueIndex("dead_letters_entry_idx").on(t.handler, t.stream, t.entryId),
    // One open dead letter per (handler, event): a second copy of the event on the stream (a
    // recovery from Redis data loss re-publishes what was in flight) failing the same way is
    // the same failure, not a second one for the operator to retry and apply twice.
    uniqueIndex("dead_letters_open_event_idx").on(t.handler, t.eventId).where(sql`status = 'open' and event_id is not null`),
    // Lists page through one status newest first; recovery reads the open ones.
    index("dead_letters_status_idx").on(t.status, t.failedAt, t.id),
    index("dead_letters_event_idx").on(t.eventId),
  ],
);

/**
 * What the engine remembers about its Redis per key prefix: when it first brought a Redis in line
 * with the outbox (so a missing sentinel later means data loss, not a first start) and last did.
 */
export const engineState = pgTable("engine_state", {
  prefix: text("prefix").primaryKey(),
  firstSentinelAt: timestamp("first_sentinel_at", { withTimezone: true }).notNull().defaultNow(),
  lastSentinelAt: timestamp("last_sentinel_at", { withTimezone: true }).notNull().defaultNow(),
});

/**
 * Every entry published for one handler only (`target`: a dead-letter retry, a re-publish by
 * recovery, a re-drive of a deleted entry), with a copy of its event: if such an entry is deleted
 * from its stream while still pending, its event is found here and re-driven again, never lost.
 */
export const redrives = pgTable(
  "redrives",
  {
    stream: text("stream").notNull(),
    entryId: text("entry_id").notNull(),
    handler: text("handler").notNull(),
    eventId: uuid("event_id").notNull(),
    eventType: text("event_type").notNull(),
    aggregateId: text("aggregate_id"),
    tenantId: text("tenant_id"),
    payload: text("payload").notNull(),
    /** The event's outbox created_at. */
    createdAt: timestamp("created_at", { withTimezone: true }).notNull(),
    recordedAt: timestamp("recorded_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.stream, t.entryId] }), index("redrives_recorded_idx").on(t.recordedAt)],
);

/**
 * When each handler started reading each event type: the events it is answerable for are those
 * published from then on (retention waits for it to process them, recovery re-publishes them to
 * it), so a handler added to an existing type does not inherit the type's history. -infinity for a
 * handler that takes every event (a backfill, or one that ran before this was recorded).
 */
export const handlerStarts = pgTable(
  "handler_starts",
  {
    handler: text("handler").notNull(),
    eventType: text("event_type").notNull(),
    startedAt: timestamp("started_at", { withTimezone: true }).notNull(),
    /** Set once the events published while the group was being created reached it too. */
    caughtUp: boolean("caught_up").notNull().default(false),
  },
  (t) => [primaryKey({ columns: [t.handler, t.eventType] })],
);

/** Each event type's priority, as the engine's options say; the outbox fills a row's null priority from it. */
export const eventPriorities = pgTable("event_priorities", {
  eventType: text("event_type").primaryKey(),
  priority: smallint("priority").notNull(),
});

/**
 * Recurring schedules: each firing writes one outbox event per due time across the fleet (its
 * idempotency key is the schedule's name and the due time).
 */
export const schedules = pgTable("schedules", {
  name: text("name").primaryKey(),
  /** croner syntax, with seconds. */
  cron: text("cron").notNull(),
  timezone: text("timezone").notNull().default("UTC"),
  eventType: text("event_type").notNull(),
  payload: jsonb("payload").notNull(),
  /** What happens to firings missed while no machine ran: all, latest or none. */
  catchUp: text("catch_up").notNull().default("latest"),
  paused: boolean("paused").notNull().default(false),
  /** code (declared with schedule(), written at every start) or api. */
  source: text("source").notNull().default("api"),
  nextFireAt: timestamp("next_fire_at", { withTimezone: true }),
  lastFiredAt: timestamp("last_fired_at", { withTimezone: true }),
  /** The due time the last firing was for. */
  lastDueAt: timestamp("last_due_at", { withTimezone: true }),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
}, (t) => [index("schedules_next_fire_idx").on(t.nextFireAt).where(sql`not ${t.paused}`)]);

/**
 * The highest partition count each event type's stream was ever published with
 * (STREAM_PARTITIONS): consumers read every partition up to it, so lowering or raising the count
 * loses nothing that an earlier layout put on a partition the new one no longer writes to.
 */
export const streamPartitions = pgTable("stream_partitions", {
  eventType: text("event_type").primaryKey(),
  partitions: integer("partitions").notNull(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});

/**
 * An ordered handler's fencing generation per partition: a consumer that takes a partition over
 * raises it, and every run of the handler checks in its own transaction that the generation it
 * owns the partition under is still the current one, so a consumer that lost its lease (a pause,
 * a partition of the network) can no longer commit anything for that partition.
 */
export const partitionFences = pgTable(
  "partition_fences",
  {
    handler: text("handler").notNull(),
    eventType: text("event_type").notNull(),
    partition: integer("partition").notNull(),
    generation: integer("generation").notNull().default(0),
    owner: text("owner"),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.handler, t.eventType, t.partition] })],
);

/**
 * A partition key an ordered handler stopped at: its first failing event was dead-lettered, and
 * the key's later events wait (parked_events) until that dead letter is retried or deleted.
 */
export const parkedKeys = pgTable(
  "parked_keys",
  {
    handler: text("handler").notNull(),
    eventType: text("event_type").notNull(),
    partitionKey: text("partition_key").notNull(),
    /** The dead letter of the key's first failing event. */
    deadLetterId: uuid("dead_letter_id").notNull(),
    eventId: uuid("event_id").notNull(),
    parkedAt: timestamp("parked_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.handler, t.eventType, t.partitionKey] }), index("parked_keys_dead_letter_idx").on(t.deadLetterId)],
);

/** The events that arrived behind a parked key, in arrival order (`position`), re-driven when it is released. */
export const parkedEvents = pgTable(
  "parked_events",
  {
    position: bigserial("position", { mode: "number" }).primaryKey(),
    handler: text("handler").notNull(),
    eventType: text("event_type").notNull(),
    partitionKey: text("partition_key").notNull(),
    eventId: uuid("event_id").notNull(),
    /**
     * True once its key was released and the event re-driven (an entry with `target`) to run in
     * its turn; false while it waits behind the key's dead letter or behind the re-driven ones.
     */
    redriven: boolean("redriven").notNull().default(false),
    parkedAt: timestamp("parked_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index("parked_events_key_idx").on(t.handler, t.eventType, t.partitionKey, t.position),
    uniqueIndex("parked_events_event_idx").on(t.handler, t.eventId),
  ],
);

/**
 * What each ordered handler still owes per partition key, in outbox order (`position`): the relay
 * adds a row per ordered handler of the type in the transaction that publishes the event (one such
 * transaction at a time, oldest first), and the handler's transaction deletes it. An ordered
 * handler runs an event only when it is its key's first row here, so a key's events run in outbox
 * order whatever their type, partition or machine; a dead-lettered first row parks the key.
 */
export const orderedBacklog = pgTable(
  "ordered_backlog",
  {
    position: bigserial("position", { mode: "number" }).primaryKey(),
    handler: text("handler").notNull(),
    partitionKey: text("partition_key").notNull(),
    eventId: uuid("event_id").notNull(),
    eventType: text("event_type").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index("ordered_backlog_key_idx").on(t.handler, t.partitionKey, t.position),
    uniqueIndex("ordered_backlog_event_idx").on(t.eventId, t.handler),
  ],
);
