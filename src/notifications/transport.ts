import type { Logger } from "../lib/logger.ts";

export interface Email {
  recipient: string;
  subject: string;
  body: string;
}

/** Delivers an e-mail; throwing makes the notifications handler retry the event. */
export interface Transport {
  send(email: Email, signal: AbortSignal): Promise<void>;
}

/**
 * The default transport: the e-mail is written to the log, nothing leaves the process. A
 * recipient's address is personal data: info lines (what production keeps) never carry it; a
 * developer sees it with LOG_LEVEL=debug.
 */
export function logTransport(log: Logger): Transport {
  return {
    async send({ recipient, subject }) {
      log.info("notification sent", { transport: "log", subject });
      log.debug("notification recipient", { transport: "log", recipient, subject });
    },
  };
}
