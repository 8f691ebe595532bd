// The delivery engine's one public entrance. Code outside src/engine/ imports only this file; the
// engine imports nothing of the shop. See README "Adding a handler" and "The engine".

// Running it
export { startEngine, type Engine, type EngineStatus } from "./start-engine.ts";
export { HANDLER_DEFAULTS, type EngineOptions, type EngineParts } from "./options.ts";
export type { RelayStatus } from "./outbox/relay-schedule.ts";
export type { RecoveryStatus } from "./recovery/watcher.ts";
export type { PublishedCounts } from "./outbox/relay.ts";
export type { Outcome, OutcomeReport } from "./delivery/outcome.ts";

// Handlers
export {
  subscribe, subscriber,
  type BatchHandlerFn, type HandlerContext, type HandlerFn, type HandlerOptions, type Subscription,
} from "./delivery/subscribe.ts";
export type { StreamEvent } from "./redis/entry.ts";
export type { BackoffOptions } from "./support/backoff.ts";

// Writing events (in the caller's transaction)
export { commitWithEvents, writeEvent, type EventInput, type WrittenEvent, type Waker } from "./outbox/write-event.ts";

// Errors
export { isUnrecoverable, toError, UnrecoverableError } from "./support/errors.ts";
export { isConnectionLost, isUnavailableError } from "./support/unavailable.ts";

// The Redis client policy the engine relies on, and helpers for effects outside PostgreSQL
export { createRedis, createRedisCluster, isCluster, REDIS_COMMAND_TIMEOUT_MS, type ClusterAccess, type ClusterNode } from "./redis/client.ts";
export { scanAll, type ScanOptions } from "./redis/scan.ts";
export { claimIdempotencyKey, releaseIdempotencyKey } from "./support/idempotency.ts";
export { withLock, type LockResult } from "./support/lock.ts";
export type { LogFields, Logger } from "./support/logger.ts";
export type { AnySchema, EngineDb, EngineTx, Sql } from "./db.ts";

// The operators' API: dead letters, queues and the outbox as the engine sees them
export { PAYLOAD_PATH, type AdminDeps, type DeadLetterQuery, type SearchField } from "./admin/letters.ts";
export type { DeadLetterReason, DeadLetterStatus } from "./dead-letters/row.ts";
export {
  countDeadLetters, deadLetterFacets, decodeCursor, encodeCursor, getDeadLetter, listDeadLetters,
  type Cursor, type DeadLetterDetail, type DeadLetterItem, type ListOptions,
} from "./admin/dead-letters-read.ts";
export { BULK_LIMIT, retryDeadLetter, retryDeadLetters, type RetryResult } from "./admin/redrive.ts";
export { deleteDeadLetter, discardDeadLetters, type DeleteResult } from "./admin/discard.ts";
export { applyToDeadLetters, type BulkAction } from "./admin/bulk.ts";
export { listBlockedKeys, type BlockedKey, type BlockedKeyFilter } from "./admin/blocked-keys.ts";
export { readStreamStates, type GroupState, type StreamState } from "./admin/stream-states.ts";
export { countOpenDeadLetters, readOutboxBacklog, type OpenDeadLetterCount, type OutboxBacklog } from "./admin/counts.ts";

// A drizzle helper the engine uses too: an array as one parameter (`= any($1::uuid[])`)
export { pgArray } from "./support/pg-array.ts";

// The operators' console reads (handlers, fleet, event traces) and pausing a handler fleet-wide
export { byHandler, readHandlerStates, type ConsumerState, type HandlerState, type StateDeps, type StreamOverview } from "./admin/handler-states.ts";
export { readLastRecovery, readMachines, readOutboxState, type LastRecovery, type Machine, type OutboxState } from "./admin/fleet.ts";
export { traceAggregate, traceEvent, type EventTrace, type HandlerStage, type HandlerTrace, type TraceDeps } from "./admin/event-trace.ts";
export { pauseHandler, readPausedHandlers, resumeHandler, type PauseInfo } from "./admin/pause.ts";

// Delayed events, priorities and recurring schedules
export { cancelEvent, type CancelResult } from "./admin/cancel-event.ts";
export { MAX_PRIORITY, MIN_PRIORITY } from "./outbox/priorities.ts";
export { CATCH_UPS, checkSchedule, schedule, ScheduleError, type CatchUp, type ScheduleDef } from "./schedules/define.ts";
export { deleteSchedule, getSchedule, listSchedules, saveSchedule, setSchedulePaused, type ScheduleState } from "./schedules/store.ts";
