import { Cron } from "croner";
import type { Logger } from "../support/logger.ts";
import { toError } from "../support/errors.ts";
import { nextDueAt } from "./claim.ts";
import { drainOutbox, type PublishedCounts, type RelayDeps } from "./relay.ts";

export interface RelayStatus {
  lastRunAt: Date | null;
  lastError: string | null;
  published: number;
  /** Rows set aside as `relay` dead letters (unknown or unpublishable event type). */
  setAside: number;
  /** A drain is in progress. */
  running: boolean;
  /** stop() was called: the schedule no longer fires. */
  stopped: boolean;
}

export interface Relay {
  /** Runs a drain now (or right after the current one); cheap to call after every commit. */
  wake(): void;
  status(): RelayStatus;
  /** Stops the schedule and waits for a drain in progress. */
  stop(): Promise<void>;
}

export interface RelayOptions extends RelayDeps {
  cron: string;
  log: Logger;
  /** After a failed drain, wakes are ignored for this long so an outage is not a busy loop. */
  errorPauseMs?: number;
  /** Batch loops of one drain that run at once (RELAY_CONCURRENCY). */
  concurrency?: number;
  /** After each committed batch: the rows it published per event type. */
  onPublished?: (counts: PublishedCounts) => void;
}

/**
 * Starts the croner-scheduled relay. Runs never overlap within a process; across processes the
 * row locks keep relays apart.
 */
export function startRelay({ cron, log, errorPauseMs = 1000, concurrency = 1, onPublished, ...rest }: RelayOptions): Relay {
  const status: RelayStatus = { lastRunAt: null, lastError: null, published: 0, setAside: 0, running: false, stopped: false };
  // Counted per committed batch, so a drain that fails part-way still reports what it published.
  const deps: RelayDeps = {
    ...rest,
    onPublished: (counts) => {
      for (const n of Object.values(counts)) status.published += n;
      onPublished?.(counts);
    },
    onSetAside: (count) => {
      status.setAside += count;
      log.warn("outbox rows set aside as dead letters (see GET /dlq?handler=relay)", { count });
    },
  };
  let current: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  let pausedUntil = 0;

  // A delayed event is published on time without polling: after each drain the relay sleeps until
  // the earliest delayed row falls due (the schedule stays the backstop, e.g. for rows other
  // machines wrote).
  let dueTimer: ReturnType<typeof setTimeout> | null = null;
  const wakeAtNextDue = async () => {
    const next = await nextDueAt(deps.sql);
    if (dueTimer) clearTimeout(dueTimer);
    // A row due already was left by a drain that stopped early (or is another relay's now): the schedule takes it.
    dueTimer = next && !next.due && !stopped ? setTimeout(() => trigger(true), Math.min(Math.ceil(next.inMs), 2 ** 31 - 1)) : null;
    dueTimer?.unref();
  };

  const runOnce = async () => {
    try {
      await drainOutbox(deps, () => stopped, concurrency);
      await wakeAtNextDue();
      status.lastRunAt = new Date();
      if (status.lastError) log.info("relay recovered");
      status.lastError = null;
    } catch (thrown) {
      const err = toError(thrown);
      // One line when it starts failing and one when it recovers, however long an outage lasts.
      if (status.lastError === null) log.warn("relay run failed; retrying on the next tick", { err });
      else log.debug("relay run failed again", { err });
      status.lastError = err.message;
      pausedUntil = Date.now() + errorPauseMs;
    }
  };

  const trigger = (fromSchedule: boolean) => {
    if (stopped || (!fromSchedule && Date.now() < pausedUntil)) return;
    if (current) {
      again = true;
      return;
    }
    status.running = true;
    current = (async () => {
      do {
        again = false;
        await runOnce();
      } while (again && !stopped && Date.now() >= pausedUntil);
      current = null;
      status.running = false;
    })();
  };

  const job = new Cron(cron, { protect: true, name: undefined }, () => trigger(true));
  trigger(true);

  return {
    wake: () => trigger(false),
    status: () => ({ ...status }),
    async stop() {
      stopped = true;
      if (dueTimer) clearTimeout(dueTimer);
      status.stopped = true;
      job.stop();
      await current;
    },
  };
}
