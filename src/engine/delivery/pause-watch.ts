import type Redis from "ioredis";
import { keys } from "../redis/keys.ts";
import type { Logger } from "../support/logger.ts";
import { outageLog } from "../support/outage-log.ts";
import { toError } from "../support/errors.ts";

/** How often every machine reads the fleet's paused handlers: a pause takes effect within this (plus an unblocked read). */
export const PAUSE_POLL_MS = 500;

export interface PauseWatch {
  isPaused(handler: string): boolean;
  /** Called with the handler's name each time it is paused or resumed. */
  onChange(listener: (handler: string, paused: boolean) => void): () => void;
  stop(): void;
}

/**
 * Follows `<prefix>:paused` (one HGETALL every PAUSE_POLL_MS for the whole engine). While Redis
 * cannot be read, the last known state holds.
 */
export function watchPauses(redis: Redis, prefix: string, log: Logger, pollMs = PAUSE_POLL_MS): PauseWatch {
  let paused = new Set<string>();
  const listeners = new Set<(handler: string, paused: boolean) => void>();
  const outage = outageLog(log, "reading paused handlers");
  let reading = false;
  const poll = async () => {
    if (reading) return;
    reading = true;
    try {
      const now = new Set(Object.keys(await redis.hgetall(keys.paused(prefix))));
      const changed: [string, boolean][] = [
        ...[...now].filter((h) => !paused.has(h)).map((h): [string, boolean] => [h, true]),
        ...[...paused].filter((h) => !now.has(h)).map((h): [string, boolean] => [h, false]),
      ];
      paused = now;
      for (const [handler, isPaused] of changed) {
        log.info(isPaused ? "handler paused: reading nothing new" : "handler resumed", { handler });
        for (const listener of listeners) listener(handler, isPaused);
      }
      outage.ok();
    } catch (thrown) {
      outage.failed(toError(thrown));
    } finally {
      reading = false;
    }
  };
  void poll();
  const timer = setInterval(() => void poll(), pollMs);
  return {
    isPaused: (handler) => paused.has(handler),
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stop: () => clearInterval(timer),
  };
}
