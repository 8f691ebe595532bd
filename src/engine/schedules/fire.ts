import { Cron } from "croner";
import type { Q, Sql } from "../db.ts";
import type { Waker } from "../outbox/write-event.ts";
import { toError } from "../support/errors.ts";
import type { Logger } from "../support/logger.ts";
import { outageLog } from "../support/outage-log.ts";
import { cronOf } from "./define.ts";
import { claimDueSchedules, recordFiring, type ScheduleState } from "./store.ts";

/** At most this many due times are fired for one schedule in one pass (a long outage with catch-up `all` takes several). */
const MAX_FIRINGS_PER_PASS = 1_000;

/**
 * The due times of a schedule up to `now` that are to fire (by its catch-up policy: a due time more
 * than `graceMs` late was missed while no machine ran), and its next due time after them.
 */
export function dueFirings(s: ScheduleState, now: Date, graceMs: number): { fire: Date[]; next: Date | null } {
  const cron = cronOf(s);
  const times: Date[] = [];
  let t: Date | null = s.nextFireAt ? new Date(s.nextFireAt) : cron.nextRun(now);
  while (t && t <= now && times.length < MAX_FIRINGS_PER_PASS) {
    times.push(t);
    t = cron.nextRun(t);
  }
  const onTime = times.filter((d) => now.getTime() - d.getTime() <= graceMs);
  const missed = times.filter((d) => now.getTime() - d.getTime() > graceMs);
  const fire = s.catchUp === "all" ? times : s.catchUp === "latest" ? [...missed.slice(-1), ...onTime] : onTime;
  // Past the cap (catch-up `all` after a long outage), the rest is fired on the next pass.
  return { fire, next: t };
}

/**
 * Fires every due schedule once, in one transaction per pass: the events of its due times are
 * written to the outbox with the idempotency key `orderstream:schedule:<name>:<due time>`, and the
 * schedule's next due time is recorded with them. Schedules are locked (skip locked), so machines
 * firing at once never fire the same one; a machine killed mid-pass leaves nothing half done;
 * and the key makes one event per due time whatever happens. Returns how many events it wrote.
 */
export async function fireDueSchedules(deps: { sql: Sql; relay?: Waker; graceMs: number }): Promise<number> {
  const written = await deps.sql.begin(async (tx) => {
    const due = await claimDueSchedules(tx, 100);
    if (due.length === 0) return 0;
    const [{ now_ms }] = (await tx`select (extract(epoch from clock_timestamp()) * 1000)::float8 as now_ms`) as unknown as [{ now_ms: number }];
    let count = 0;
    for (const s of due) {
      const { fire, next } = dueFirings(s, new Date(now_ms), deps.graceMs);
      count += await writeFirings(tx, s, fire);
      await recordFiring(tx, s.name, fire.at(-1)?.toISOString() ?? null, next?.toISOString() ?? null);
    }
    return count;
  });
  if (written > 0) deps.relay?.wake();
  return written;
}

async function writeFirings(tx: Q, s: ScheduleState, times: Date[]): Promise<number> {
  if (times.length === 0) return 0;
  const payload = JSON.stringify(s.payload ?? null);
  // The event occurred at its due time: created_at (and so occurredAt) says when it was meant for.
  const rows = await tx`
    insert into outbox (event_type, aggregate_id, payload, idempotency_key, created_at)
    select ${s.eventType}, ${`schedule:${s.name}`}, ${payload}::jsonb, 'orderstream:schedule:' || ${s.name} || ':' || t, t::timestamptz
    from unnest(${times.map((t) => t.toISOString())}::text[]) as t
    on conflict (idempotency_key) do nothing returning 1`;
  return rows.length;
}

/** Fires due schedules every second on this machine (croner), one pass at a time. */
export function startScheduler(deps: { sql: Sql; relay?: Waker; graceMs: number; log: Logger }): () => void {
  const outage = outageLog(deps.log, "firing schedules");
  const job = new Cron("* * * * * *", { protect: true }, async () => {
    await fireDueSchedules(deps).then(() => outage.ok(), (thrown) => outage.failed(toError(thrown)));
  });
  return () => job.stop();
}
