import type { Logger } from "./logger.ts";
import type { LogFields } from "./logger.ts";

export interface OutageLog {
  /** A run failed: logged as a warning only when the previous run did not fail. */
  failed(err: Error, fields?: LogFields): void;
  /** A run worked: logged once, when it follows failures. */
  ok(fields?: LogFields): void;
}

/**
 * One warning when a periodic job starts failing and one line when it works again, however long
 * a PostgreSQL or Redis outage lasts: a retry every second must not write a line every second.
 */
export function outageLog(log: Logger, what: string): OutageLog {
  let failing = false;
  return {
    failed(err, fields) {
      if (!failing) log.warn(`${what} failed; retrying`, { ...fields, err });
      else log.debug(`${what} failed again`, { ...fields, err });
      failing = true;
    },
    ok(fields) {
      if (failing) log.info(`${what} works again`, fields);
      failing = false;
    },
  };
}
