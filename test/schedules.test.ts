// Recurring schedules: one event per due time across the fleet, and a documented catch-up policy
// for the due times missed while no machine ran.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { schedule } from "../src/engine/index.ts";
import { dueFirings } from "../src/engine/schedules/fire.ts";
import type { ScheduleState } from "../src/engine/schedules/store.ts";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(() => ctx.cleanup());

const firings = async (name: string) =>
  (await ctx.sql<{ ms: number }[]>`
    select (extract(epoch from created_at) * 1000)::float8 as ms from outbox
    where idempotency_key like ${`orderstream:schedule:${name}:%`} order by created_at`).map((r) => r.ms);
const parts = { relay: false, consumers: false, maintenance: false, stats: false, recovery: false };

test("after the whole fleet was down for 5 s, catch-up all fires every missed second, latest the most recent one, none nothing", async () => {
  const every = (name: string, catchUp: "all" | "latest" | "none") => schedule({ name, cron: "* * * * * *", eventType: "job.run", payload: { n: 1 }, catchUp });
  const schedules = [every("all", "all"), every("latest", "latest"), every("none", "none")];
  const first = await ctx.startEngine([], { schedules, parts, scheduleGraceMs: 1_000 });
  await waitFor("a few firings", async () => (await firings("none")).length >= 2, 5_000);
  await first.stop();
  const downAt = Date.now();
  await Bun.sleep(5_000);
  const upAt = Date.now();
  await ctx.startEngine([], { schedules, parts, scheduleGraceMs: 1_000 });
  await Bun.sleep(2_500);
  // Due times in the down window, more than the grace before the fleet came back.
  const missedOf = async (name: string) => (await firings(name)).filter((t) => t > downAt + 1_000 && t < upAt - 1_000).length;
  expect(await missedOf("all")).toBeGreaterThanOrEqual(3);
  expect(await missedOf("latest")).toBe(0);
  expect(await missedOf("none")).toBe(0);
  // latest fired one of the missed ones: the most recent, which is within a grace of the restart.
  const near = (await firings("latest")).filter((t) => t >= upAt - 2_000 && t < upAt);
  expect(near.length).toBeGreaterThanOrEqual(1);
  // Every schedule is back to one event per second, none twice.
  for (const name of ["all", "latest", "none"]) {
    const times = await firings(name);
    expect(new Set(times).size).toBe(times.length);
  }
});

test("a schedule's due times: every one up to now, then the policy on those missed beyond the grace", () => {
  const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
  const state = (catchUp: "all" | "latest" | "none"): ScheduleState => ({
    name: "s", cron: "* * * * * *", timezone: "UTC", eventType: "t", payload: null, catchUp, paused: false, source: "code",
    nextFireAt: at(0).toISOString(), lastFiredAt: null, lastDueAt: null,
  });
  const now = at(10);
  expect(dueFirings(state("all"), now, 2_000).fire.map((d) => d.getUTCSeconds())).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  expect(dueFirings(state("latest"), now, 2_000).fire.map((d) => d.getUTCSeconds())).toEqual([7, 8, 9, 10]);
  expect(dueFirings(state("none"), now, 2_000).fire.map((d) => d.getUTCSeconds())).toEqual([8, 9, 10]);
  expect(dueFirings(state("none"), now, 2_000).next?.getUTCSeconds()).toBe(11);
  const daily = { ...state("all"), cron: "0 0 3 * * *", timezone: "Europe/Istanbul", nextFireAt: "2026-01-01T00:00:00.000Z" };
  expect(dueFirings(daily, new Date("2026-01-01T01:00:00Z"), 2_000).fire.map((d) => d.toISOString())).toEqual(["2026-01-01T00:00:00.000Z"]);
  expect(dueFirings(daily, new Date("2026-01-01T01:00:00Z"), 2_000).next?.toISOString()).toBe("2026-01-02T00:00:00.000Z"); // 03:00 in Istanbul
});
