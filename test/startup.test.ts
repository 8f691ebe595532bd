// `bun src/main.ts` as an operator meets it: bad settings fail fast with the variable's name, a
// fresh database is created and migrated, and two processes never consume under one name at once.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { ensureDatabase } from "../src/db/migrate.ts";
import { keys } from "../src/engine/redis/keys.ts";
import { createTestContext, TEST_DATABASE_URL, waitFor, type TestContext } from "./support/context.ts";
import { killProcesses, startProcess } from "./support/process.ts";
import { insertJob } from "./support/worker.ts";

let ctx: TestContext;
const databasesToDrop: string[] = [];
beforeEach(async () => (ctx = await createTestContext()));
afterEach(async () => {
  await killProcesses();
  await ctx.cleanup();
  const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
  for (const name of databasesToDrop.splice(0)) await admin.unsafe(`drop database if exists "${name}" with (force)`);
  await admin.end();
});

const main = (env: Record<string, string>) => startProcess(ctx, { entry: "main", env });
const nonEmpty = (lines: string[]) => lines.filter((l) => l.trim() !== "");

test("PORT=abc exits 1 naming PORT", async () => {
  const child = main({ PORT: "abc" });
  expect(await child.waitForExit()).toBe(1);
  expect(child.stderr.join("\n")).toContain("PORT");
}, 10_000);

test.each(["true", "false"])("an unreachable DATABASE_URL exits 1 with one line naming it, password hidden (MIGRATE_ON_START=%s)", async (migrate) => {
  const child = main({ DATABASE_URL: "postgres://u:secret@127.0.0.1:1/x", MIGRATE_ON_START: migrate });
  expect(await child.waitForExit()).toBe(1);
  const lines = nonEmpty(child.stderr);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain("DATABASE_URL");
  expect([...child.stdout, ...child.stderr].join("\n")).not.toContain("secret");
}, 15_000);

test("an unreachable REDIS_URL exits 1 with one line naming it, password hidden", async () => {
  const child = main({ REDIS_URL: "redis://:secret@127.0.0.1:1" });
  expect(await child.waitForExit()).toBe(1);
  const lines = nonEmpty(child.stderr);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain("REDIS_URL");
  expect([...child.stdout, ...child.stderr].join("\n")).not.toContain("secret");
}, 15_000);

test("an unreachable REDIS_CLUSTER_NODES exits 1 with one line naming it", async () => {
  const child = main({ REDIS_CLUSTER_NODES: "127.0.0.1:1,127.0.0.1:2" });
  expect(await child.waitForExit()).toBe(1);
  const lines = nonEmpty(child.stderr);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain("REDIS_CLUSTER_NODES=127.0.0.1:1,127.0.0.1:2");
}, 15_000);

test("MIGRATE_ON_START creates and migrates a missing database, serves health, and exits 0 on SIGTERM", async () => {
  const name = `orderstream_start_${randomBytes(5).toString("hex")}`;
  databasesToDrop.push(name);
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;

  const child = main({ DATABASE_URL: url.toString(), MIGRATE_ON_START: "true" });
  const port = await child.port();

  const live = await fetch(`http://127.0.0.1:${port}/health/live`);
  expect(live.status).toBe(200);
  const health = await fetch(`http://127.0.0.1:${port}/health`);
  expect(health.status).toBe(200);
  expect(await health.json()).toMatchObject({ status: "ok" });

  const probe = postgres(url.toString(), { max: 1, onnotice: () => {} });
  try {
    const [row] = await probe<{ outbox: string | null }[]>`select to_regclass('public.outbox')::text as outbox`;
    expect(row?.outbox).toBe("outbox");
  } finally {
    await probe.end();
  }

  child.kill("SIGTERM");
  expect(await child.waitForExit()).toBe(0);
}, 20_000);

test("machines (or parallel test files) creating one missing database at the same moment all go on: no 'already exists' failure", async () => {
  for (let round = 0; round < 5; round++) {
    const name = `orderstream_race_${randomBytes(5).toString("hex")}`;
    databasesToDrop.push(name);
    const url = new URL(TEST_DATABASE_URL);
    url.pathname = `/${name}`;
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => ensureDatabase(url.toString())));
    expect(results.filter((r) => r.status === "rejected").map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
  }
});

test("a second process with the same CONSUMER_NAME waits for the name and consumes only after the first stops", async () => {
  const first = startProcess(ctx, { env: { CONSUMER_NAME: "same" }, label: "first" });
  await first.port();
  const second = startProcess(ctx, { env: { CONSUMER_NAME: "same" }, label: "second" });
  await second.waitForLine(/"msg":"consumer name is held by another process; waiting for it"/);

  const early = await insertJob(ctx, 1);
  await first.waitForLine(new RegExp(`^STARTED ${early}$`));
  expect(second.stdout.some((l) => l.startsWith("STARTED ") || l.includes('"msg":"consumers started"'))).toBe(false);

  first.kill("SIGTERM");
  expect(await first.waitForExit()).toBe(0);
  await second.port();
  const late = await insertJob(ctx, 2);
  await second.waitForLine(new RegExp(`^STARTED ${late}$`));
  expect(second.stdout).not.toContain(`STARTED ${early}`);
  expect(first.stdout).not.toContain(`STARTED ${late}`);
  await waitFor("both effects", async () => (await ctx.sql`select 1 from effects`).length === 2);
}, 30_000);

test("a process still waiting for its consumer name stops cleanly on SIGTERM and leaves the name to its holder", async () => {
  const holder = startProcess(ctx, { env: { CONSUMER_NAME: "same" }, label: "holder" });
  await holder.port();
  const waiting = startProcess(ctx, { env: { CONSUMER_NAME: "same" }, label: "waiting" });
  await waiting.waitForLine(/"msg":"consumer name is held by another process; waiting for it"/);

  waiting.kill("SIGTERM");
  expect(await waiting.waitForExit()).toBe(0);
  expect(waiting.stdout.filter((l) => l.includes('"level":"error"'))).toEqual([]);
  expect(await ctx.redis.exists(keys.consumerName(ctx.prefix, "same"))).toBe(1);

  const eventId = await insertJob(ctx);
  await holder.waitForLine(new RegExp(`^STARTED ${eventId}$`));
}, 20_000);
