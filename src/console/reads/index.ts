// Everything the console and the operators' JSON API read, all through the engine's entrance:
// the console keeps no reads of the engine's keys or tables of its own.
export {
  applyToDeadLetters, deadLetterFacets, decodeCursor, deleteDeadLetter, getDeadLetter, listDeadLetters, PAYLOAD_PATH, retryDeadLetter,
  byHandler, pauseHandler, readHandlerStates, readLastRecovery, readMachines, readOutboxState, readPausedHandlers, resumeHandler,
  traceAggregate, traceEvent,
  type ConsumerState, type DeadLetterDetail, type DeadLetterItem, type DeadLetterQuery, type DeadLetterStatus, type EventTrace,
  type HandlerStage, type HandlerState, type HandlerTrace, type LastRecovery, type Machine, type OutboxState, type PauseInfo,
  type SearchField, type StateDeps, type StreamOverview, type TraceDeps,
} from "../../engine/index.ts";
