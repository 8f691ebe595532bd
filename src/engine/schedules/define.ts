import { Cron } from "croner";

export type CatchUp = "all" | "latest" | "none";

/** A recurring schedule: each due time of `cron` writes one `eventType` event with `payload`. */
export interface ScheduleDef {
  /** Letters, digits, and . _ : - ; also the events' aggregate id (`schedule:<name>`). */
  name: string;
  /** croner syntax, with seconds: `0 *\/15 * * * *` is every 15 minutes. */
  cron: string;
  /** IANA time zone the pattern is read in. Defaults to UTC. */
  timezone?: string;
  eventType: string;
  payload: unknown;
  /**
   * Due times missed while no machine ran (more than the grace late): `all` fires every one of
   * them, `latest` only the most recent, `none` none. Defaults to latest.
   */
  catchUp?: CatchUp;
}

/** A schedule definition refused, with the field at fault. */
export class ScheduleError extends Error {
  override name = "ScheduleError";
  constructor(readonly field: "name" | "cron" | "timezone" | "eventType" | "catchUp", message: string) {
    super(message);
  }
}

const NAME = /^[A-Za-z0-9_.:-]{1,100}$/;
export const CATCH_UPS: readonly CatchUp[] = ["all", "latest", "none"];

/** The schedule's pattern read in its time zone; throws ScheduleError naming the bad field. */
export function cronOf(def: Pick<ScheduleDef, "cron" | "timezone">): Cron {
  const timezone = def.timezone ?? "UTC";
  try {
    new Intl.DateTimeFormat("en", { timeZone: timezone });
  } catch {
    throw new ScheduleError("timezone", `"${timezone}" is not an IANA time zone (such as UTC or Europe/Istanbul)`);
  }
  try {
    return new Cron(def.cron, { timezone, paused: true });
  } catch (err) {
    throw new ScheduleError("cron", `not a cron pattern: ${(err as Error).message}`);
  }
}

/** Checks a definition; throws ScheduleError naming the first bad field. */
export function checkSchedule(def: ScheduleDef): void {
  if (!NAME.test(def.name)) throw new ScheduleError("name", `must match ${NAME}`);
  if (!def.eventType) throw new ScheduleError("eventType", "required");
  if (def.catchUp !== undefined && !CATCH_UPS.includes(def.catchUp)) throw new ScheduleError("catchUp", `one of ${CATCH_UPS.join(", ")}`);
  if (!cronOf(def).nextRun()) throw new ScheduleError("cron", "the pattern never fires again");
}

/** Declares a schedule in code (EngineOptions.schedules); checked at once. */
export function schedule(def: ScheduleDef): ScheduleDef {
  checkSchedule(def);
  return def;
}
