// A handler past its timeout must not write anything anywhere: not after the rollback, not in
// another transaction on its connection. Its retry is the only run that counts.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { z } from "zod";
import { subscribe } from "../src/engine/index.ts";
import { createTestContext, insertOutboxRow, waitFor, type TestContext } from "./support/context.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(() => ctx.cleanup());

const userCreated = z.object({ userId: z.string() });

test("a handler that times out while PostgreSQL sleeps never writes again: after its retry succeeds there is exactly one marker row", async () => {
  await ctx.sql`create table markers (event_id uuid not null, attempt int not null)`; // no unique key: a second write would show
  const attempts: number[] = [];
  await ctx.startEngine([
    subscribe({
      handler: "slow", eventType: "user.created", schema: userCreated,
      options: { timeoutMs: 200, batchSize: 1, backoff: { initialMs: 100, multiplier: 1, maxMs: 100 } },
      handle: async (e, c) => {
        attempts.push(c.attempt);
        // Careless code: the sleep's failure is swallowed and the handler carries on.
        if (c.attempt === 1) await c.tx.execute(sql`select pg_sleep(0.5)`).catch(() => {});
        await c.tx.execute(sql`insert into markers (event_id, attempt) values (${e.id}, ${c.attempt})`);
      },
    }),
  ]);
  const id = await insertOutboxRow(ctx.sql, "user.created", { userId: "u1" });
  await waitFor("the retry's commit", async () => (await ctx.sql`select 1 from processed_events where handler = 'slow' and event_id = ${id}`).length === 1);
  await Bun.sleep(800); // the first run's sleep would have ended and its insert landed by now
  expect([...(await ctx.sql`select attempt from markers`)]).toEqual([{ attempt: 2 }]);
  expect(attempts).toEqual([1, 2]);
});

test("a statement in flight when the time is up is cancelled on the server, not left running", async () => {
  let started = 0;
  await ctx.startEngine([
    subscribe({
      handler: "stuck", eventType: "user.created", schema: userCreated,
      // A statement timeout far above the handler's would leave pg_sleep(30) running for 30 s.
      options: { timeoutMs: 300, maxAttempts: 1, batchSize: 1 },
      handle: async (_e, c) => {
        started++;
        await c.tx.execute(sql`select pg_sleep(30) -- orderstream-cancel-probe`);
      },
    }),
  ]);
  await insertOutboxRow(ctx.sql, "user.created", { userId: "u1" });
  await waitFor("the run", () => started === 1);
  await waitFor("the dead letter", async () => (await ctx.sql`select 1 from dead_letters where handler = 'stuck'`).length === 1, 10_000);
  const running = await ctx.sql`select pid from pg_stat_activity where query like '%orderstream-cancel-probe%' and state = 'active' and pid <> pg_backend_pid()`;
  expect(running.length).toBe(0);
});

test("once a run has ended, its transaction refuses statements, also those of a builder made before", async () => {
  let late: Error | undefined;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  await ctx.startEngine([
    subscribe({
      handler: "leaky", eventType: "user.created", schema: userCreated,
      options: { timeoutMs: 150, maxAttempts: 1, batchSize: 1 },
      handle: async (e, c) => {
        const query = c.tx.execute(sql`insert into effects (handler, event_id) values ('leaky', ${e.id})`);
        // Keeps running past the timeout, then tries to use the transaction it was given.
        setTimeout(() => {
          c.tx.execute(sql`select 1`).then(() => done(), (err: Error) => ((late = err), done()));
        }, 400);
        await query;
        await new Promise(() => {});
      },
    }),
  ]);
  await insertOutboxRow(ctx.sql, "user.created", { userId: "u1" });
  await finished;
  // drizzle wraps what the client throws in its DrizzleQueryError.
  expect((late?.cause as Error | undefined)?.name).toBe("TransactionEndedError");
  expect((await ctx.sql`select * from effects`).length).toBe(0);
});

test("a deadlock reported by PostgreSQL is retried without using up an attempt, even the last one", async () => {
  let runs = 0;
  await ctx.startEngine([
    subscribe({
      handler: "racy", eventType: "user.created", schema: userCreated,
      options: { maxAttempts: 1, backoff: { initialMs: 50, multiplier: 1, maxMs: 50 } },
      handle: async (e, c) => {
        runs++;
        if (runs === 1) await c.tx.execute(sql`do $$ begin raise exception 'deadlock detected' using errcode = '40P01'; end $$`);
        await c.tx.execute(sql`insert into effects (handler, event_id) values ('racy', ${e.id})`);
      },
    }),
  ]);
  await insertOutboxRow(ctx.sql, "user.created", { userId: "u1" });
  await waitFor("the retry's commit", async () => (await ctx.sql`select 1 from effects`).length === 1);
  expect(runs).toBe(2);
  expect((await ctx.sql`select 1 from dead_letters`).length).toBe(0);
});
