// Everything the console and the operators' JSON API read from the engine's stores: streams and
// consumer groups, failure counts, consumer names and the recovery sentinel in Redis; the outbox,
// processed_events and dead_letters in PostgreSQL. One entrance, so these reads can be moved
// behind the engine's own (src/engine/index.ts) without touching a page or a route.
export { byHandler, readHandlerStates, type ConsumerState, type HandlerState, type StateDeps, type StreamOverview } from "./handlers.ts";
export { readLastRecovery, readMachines, readOutboxState, type LastRecovery, type Machine, type OutboxState } from "./fleet.ts";
export {
  countOpenMatching, listOpenMatchingIds, PAYLOAD_PATH, readDeadLetterFacets, searchDeadLetters,
  type DeadLetterSearch, type FoundDeadLetter, type SearchField,
} from "./dead-letters.ts";
export { traceAggregate, traceEvent, type EventTrace, type HandlerStage, type HandlerTrace, type TraceDeps } from "./events.ts";
export { readPausedHandlers, pauseHandler, resumeHandler, type PauseInfo } from "../paused-handlers.ts";
export {
  countRetryable, decodeCursor, deleteDeadLetter, getDeadLetter, listDeadLetters, retryDeadLetter, retryDeadLetters,
  type DeadLetterDetail, type DeadLetterStatus,
} from "../../engine/index.ts";
