import type { Q, Sql } from "../db.ts";
import { cronOf, type CatchUp, type ScheduleDef } from "./define.ts";

/** A schedule as stored, with its state. Times are ISO 8601 or null. */
export interface ScheduleState {
  name: string;
  cron: string;
  timezone: string;
  eventType: string;
  payload: unknown;
  catchUp: CatchUp;
  paused: boolean;
  source: "code" | "api";
  nextFireAt: string | null;
  lastFiredAt: string | null;
  lastDueAt: string | null;
}

interface Row {
  name: string;
  cron: string;
  timezone: string;
  event_type: string;
  payload: unknown;
  catch_up: CatchUp;
  paused: boolean;
  source: "code" | "api";
  next_ms: number | null;
  last_fired_ms: number | null;
  last_due_ms: number | null;
}

const columns = (q: Q) => q`
  name, cron, timezone, event_type, payload, catch_up, paused, source,
  (extract(epoch from next_fire_at) * 1000)::float8 as next_ms,
  (extract(epoch from last_fired_at) * 1000)::float8 as last_fired_ms,
  (extract(epoch from last_due_at) * 1000)::float8 as last_due_ms`;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const toState = (r: Row): ScheduleState => ({
  name: r.name, cron: r.cron, timezone: r.timezone, eventType: r.event_type, payload: r.payload, catchUp: r.catch_up,
  paused: r.paused, source: r.source, nextFireAt: iso(r.next_ms), lastFiredAt: iso(r.last_fired_ms), lastDueAt: iso(r.last_due_ms),
});

/**
 * Writes a schedule (code's at every start, an operator's on PUT): its definition is replaced,
 * its paused state and firing history kept. A changed pattern or time zone fires next at the new
 * pattern's first time from now; an unchanged one keeps its next due time, so a restart misses
 * nothing and doubles nothing.
 */
export async function saveSchedule(q: Q, def: ScheduleDef, source: "code" | "api"): Promise<ScheduleState> {
  const timezone = def.timezone ?? "UTC";
  const next = cronOf(def).nextRun()!.toISOString();
  const [row] = await q<Row[]>`
    insert into schedules (name, cron, timezone, event_type, payload, catch_up, source, next_fire_at)
    values (${def.name}, ${def.cron}, ${timezone}, ${def.eventType}, ${JSON.stringify(def.payload ?? null)}::jsonb,
      ${def.catchUp ?? "latest"}, ${source}, ${next}::timestamptz)
    on conflict (name) do update set
      next_fire_at = case when schedules.cron = excluded.cron and schedules.timezone = excluded.timezone and schedules.next_fire_at is not null
                          then schedules.next_fire_at else excluded.next_fire_at end,
      cron = excluded.cron, timezone = excluded.timezone, event_type = excluded.event_type, payload = excluded.payload,
      catch_up = excluded.catch_up, source = excluded.source, updated_at = now()
    returning ${columns(q)}`;
  return toState(row!);
}

export async function listSchedules(sql: Sql): Promise<ScheduleState[]> {
  return (await sql<Row[]>`select ${columns(sql)} from schedules order by name`).map(toState);
}

export async function getSchedule(sql: Sql, name: string): Promise<ScheduleState | undefined> {
  const [row] = await sql<Row[]>`select ${columns(sql)} from schedules where name = ${name}`;
  return row && toState(row);
}

/** Deletes a schedule; false when there was none. Events it already wrote stay. */
export async function deleteSchedule(sql: Sql, name: string): Promise<boolean> {
  return (await sql`delete from schedules where name = ${name} returning 1`).length > 0;
}

/**
 * Pauses or resumes a schedule; undefined when there is none. Resuming starts at the next due time
 * from now: the times it was paused through are not fired.
 */
export async function setSchedulePaused(sql: Sql, name: string, paused: boolean): Promise<ScheduleState | undefined> {
  const current = await getSchedule(sql, name);
  if (!current) return undefined;
  const next = paused ? current.nextFireAt : cronOf(current).nextRun()!.toISOString();
  const [row] = await sql<Row[]>`
    update schedules set paused = ${paused}, next_fire_at = ${next}::timestamptz, updated_at = now()
    where name = ${name} returning ${columns(sql)}`;
  return row && toState(row);
}

/** Locks up to `limit` schedules due now and not paused, skipping those another machine is firing. */
export async function claimDueSchedules(tx: Q, limit: number): Promise<ScheduleState[]> {
  const rows = await tx<Row[]>`
    select ${columns(tx)} from schedules
    where not paused and next_fire_at <= clock_timestamp()
    order by next_fire_at limit ${limit} for update skip locked`;
  return rows.map(toState);
}

/** Records a firing: the due time it was for, when it happened, and the next due time. */
export async function recordFiring(tx: Q, name: string, lastDueAt: string | null, nextFireAt: string | null): Promise<void> {
  await tx`
    update schedules set last_fired_at = clock_timestamp(), last_due_at = coalesce(${lastDueAt}::timestamptz, last_due_at),
      next_fire_at = ${nextFireAt}::timestamptz
    where name = ${name}`;
}
