// The one decision on a failed run, without Redis or PostgreSQL.
import { describe, expect, test } from "bun:test";
import { decideFailure, type FailedRun } from "../src/engine/delivery/decide-failure.ts";
import { UnrecoverableError } from "../src/engine/index.ts";

const options = { maxAttempts: 5, backoff: { initialMs: 1_000, multiplier: 2, maxMs: 60_000 } };
const noJitter = () => 0.5; // backoffDelay's jitter term is (random * 2 - 1): 0.5 gives none
const run = (error: Error, over: Partial<FailedRun> = {}): FailedRun => ({ error, reachedHandler: true, attempt: 1, outagesBefore: 0, options, ...over });
const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });
/** How drizzle reports a failed statement: its own error, the driver's as the cause. */
const wrapped = (cause: Error) => new Error("Failed query: insert into ...", { cause });

describe("decideFailure", () => {
  test("a handler's error is retried after the backoff of its attempt, using up that attempt", () => {
    expect(decideFailure(run(new Error("boom")), noJitter)).toEqual({ action: "retry", why: "failure", delayMs: 1_000 });
    expect(decideFailure(run(new Error("boom"), { attempt: 3 }), noJitter)).toEqual({ action: "retry", why: "failure", delayMs: 4_000 });
  });

  test("the backoff never exceeds its cap", () => {
    expect(decideFailure(run(new Error("boom"), { attempt: 4, options: { maxAttempts: 50, backoff: { initialMs: 1_000, multiplier: 10, maxMs: 5_000 } } }), () => 1)).toMatchObject({ delayMs: 5_000 });
  });

  test("the last attempt's failure is dead-lettered with the handler's message", () => {
    expect(decideFailure(run(new Error("still broken"), { attempt: 5 }))).toEqual({ action: "dead_letter", reason: "max_attempts", error: "still broken" });
  });

  test("UnrecoverableError is dead-lettered at once, also when recognised only by its name", () => {
    expect(decideFailure(run(new UnrecoverableError("bad data")))).toEqual({ action: "dead_letter", reason: "unrecoverable", error: "bad data" });
    const foreign = Object.assign(new Error("from another copy of the module"), { name: "UnrecoverableError" });
    expect(decideFailure(run(foreign))).toMatchObject({ action: "dead_letter", reason: "unrecoverable" });
  });

  test("a run that never reached its handler is an outage: retried without using an attempt, even on the last one", () => {
    const d = decideFailure(run(new Error("anything"), { reachedHandler: false, attempt: 5 }), noJitter);
    expect(d).toEqual({ action: "retry", why: "outage", delayMs: 1_000 });
  });

  test("a connection lost under the handler is an outage, also behind drizzle's wrapper, and backs off with the outage's length", () => {
    const lost = wrapped(withCode("write CONNECTION_CLOSED", "CONNECTION_CLOSED"));
    expect(decideFailure(run(lost, { attempt: 5, outagesBefore: 2 }), noJitter)).toEqual({ action: "retry", why: "outage", delayMs: 4_000 });
    expect(decideFailure(run(withCode("terminating connection due to administrator command", "57P01")), noJitter)).toMatchObject({ why: "outage" });
  });

  test("a handler's own network failure is its failure, not an outage", () => {
    expect(decideFailure(run(withCode("connect ECONNREFUSED 10.0.0.9:443", "ECONNREFUSED")))).toMatchObject({ action: "retry", why: "failure" });
  });

  test("a deadlock or serialization failure is retried soon without using an attempt, even on the last one", () => {
    for (const code of ["40P01", "40001"]) {
      const d = decideFailure(run(wrapped(withCode("deadlock detected", code)), { attempt: 5 }), noJitter);
      expect(d).toEqual({ action: "retry", why: "conflict", delayMs: 1_000 });
    }
  });

  test("an unrecoverable error wins over the attempt count; an outage wins over both", () => {
    expect(decideFailure(run(new UnrecoverableError("no"), { attempt: 5 }))).toMatchObject({ reason: "unrecoverable" });
    expect(decideFailure(run(new UnrecoverableError("no"), { reachedHandler: false }))).toMatchObject({ why: "outage" });
  });
});
