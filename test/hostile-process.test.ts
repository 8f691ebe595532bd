// A seeded part of the hostile requests against the real service process over real HTTP (with
// chunked bodies, a lying Content-Length and garbage on the socket): every answer is a 4xx in the
// one error shape, nothing is written, nothing is logged as an internal error, and afterwards the
// process is still up and /health/live answers 200.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { killProcesses, startProcess, type ServiceProcess } from "./support/process.ts";
import type { HostileCase } from "./hostile/cases.ts";
import { judge, requestInit, sendAll, snapshot, type Answer, type Snapshot } from "./hostile/check.ts";
import { apiCases } from "./hostile/endpoints.ts";
import { createFixtures, DB_PASSWORD, HOSTILE_ENV, SECRETS, WEBHOOK_KEYS, type WorldFixtures } from "./hostile/fixtures.ts";
import { rawExchange, uploadChunked, viaSocket } from "./hostile/socket.ts";
import { SEED, seeded } from "./hostile/values.ts";
import { shopeeCases, standardWebhookCases } from "./hostile/webhook-cases.ts";

const SAMPLE = 1000;

let ctx: TestContext;
let service: ServiceProcess;
let base: string;
let fixtures: WorldFixtures;
let exited = false;

async function viaHttp(c: HostileCase): Promise<Answer> {
  // A body over the limit is answered before it is read; fetch() may lose that answer to the
  // closed connection while it is still writing, so those go over a plain socket.
  if (c.expect.includes(413)) return viaSocket(port(), c);
  const res = await fetch(`${base}${c.path}`, { ...requestInit(c), redirect: "manual", signal: AbortSignal.timeout(15_000) });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

const port = () => Number(new URL(base).port);

/** The snapshot once the engine has finished with the fixtures' events (two equal reads 500 ms apart). */
async function settled(): Promise<Snapshot> {
  let last = "";
  return waitFor("the service to settle", async () => {
    const [row] = await ctx.sql<{ n: number }[]>`select count(*)::int as n from outbox where published_at is null`;
    const now = await snapshot(ctx.sql, ctx.redis, ctx.prefix);
    const same = row!.n === 0 && JSON.stringify(now) === last;
    last = JSON.stringify(now);
    await Bun.sleep(500);
    return same && now;
  }, 20_000);
}

beforeAll(async () => {
  ctx = await createTestContext();
  service = startProcess(ctx, {
    entry: "main",
    env: { ...HOSTILE_ENV, DATABASE_URL: ctx.databaseUrl.replace("postgres@", `postgres:${DB_PASSWORD}@`) },
  });
  void service.exited.then(() => (exited = true));
  base = `http://127.0.0.1:${await service.port()}`;
  fixtures = await createFixtures(ctx, async (method, path, body, headers = {}) => {
    const res = await fetch(`${base}${path}`, {
      method, headers: { "content-type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  });
});
afterAll(async () => {
  await killProcesses();
  await ctx.cleanup();
});

test(`a seeded sample of ${SAMPLE} hostile requests and every webhook case over real HTTP: 4xx, nothing written, the process stays up`, async () => {
  const before = await settled();
  const rand = seeded(SEED + 1);
  const pool = apiCases(fixtures).filter((c) => !c.inProcessOnly);
  const sample = Array.from({ length: SAMPLE }, () => pool.splice(rand.int(pool.length), 1)[0]!);
  // Every body over the limit too: those are what a real socket makes different.
  const large = pool.filter((c) => c.expect.includes(413));
  const keys = { ...WEBHOOK_KEYS, productId: fixtures.productId, storedId: fixtures.webhookId };
  const webhooks = [...standardWebhookCases(keys), ...shopeeCases(keys)].filter((c) => !c.inProcessOnly);
  const cases = [...sample, ...large, ...webhooks];

  const failures = await sendAll(cases, viaHttp, SECRETS);
  console.log(`hostile-process: ${cases.length} requests sent over HTTP`);

  expect(failures.slice(0, 40)).toEqual([]);
  expect(exited).toBe(false);
  expect((await fetch(`${base}/health/live`)).status).toBe(200);
  expect(await snapshot(ctx.sql, ctx.redis, ctx.prefix)).toEqual(before);
  const internal = service.stdout.filter((l) => l.includes('"level":"error"') || l.includes("request failed"));
  expect(internal.slice(0, 5)).toEqual([]);
});

test("garbage on the socket, a lying Content-Length and smuggling attempts never take the process down", async () => {
  const before = await settled();
  const product = '{"tenantId":"t","sku":"S","name":"n","price":1,"stock":1}';
  const send = (raw: string | Buffer, closeAfterWrite = false) => rawExchange(port(), raw, { closeAfterWrite }).then((b) => b.toString("latin1"));
  const exchanges = await Promise.all([
    send("GARBAGE\r\n\r\n"),
    send(Buffer.from([0, 1, 2, 3, 255, 254, 13, 10, 13, 10])),
    send(`POST /products HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n${product}`, true),
    send(`POST /products HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n${product}`),
    send(`POST /products HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n{`),
    send(`POST /products HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n${product}`),
    send(`POST /products HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /health HTTP/1.1\r\n\r\n`),
    send(`POST /products HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n${product}\r\n0\r\n\r\n`),
    send(`POST /products HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${(1024 * 1024 + 10).toString(16)}\r\n${"x".repeat(2048)}`, true),
    send(`GET /products/${"a".repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`),
    send(`GET /dlq HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${HOSTILE_ENV.ADMIN_TOKEN}\u0000x\r\n\r\n`),
    send(`GET /health/live HTTP/1.1\r\nHost: x\r\n${"X-Pad: y\r\n".repeat(5_000)}\r\n`),
    send(`POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{"tenantId`, true),
  ]);
  // Whatever HTTP answer the server's own parser gives, it must never be a 5xx or a 2xx.
  for (const reply of exchanges) expect(reply).not.toMatch(/^HTTP\/1\.1 [25]\d\d/);
  expect(exited).toBe(false);
  expect((await fetch(`${base}/health/live`)).status).toBe(200);
  expect(await snapshot(ctx.sql, ctx.redis, ctx.prefix)).toEqual(before);
});

test("a body dripped in 1-byte chunks is refused without stalling other requests", async () => {
  const drip = `${"1\r\nx\r\n".repeat(1024 * 1024 + 1)}0\r\n\r\n`;
  const head = "POST /products HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  const answer = rawExchange(port(), Buffer.from(head + drip), { timeoutMs: 10_000 });
  await Bun.sleep(100);
  const started = performance.now();
  expect((await fetch(`${base}/health/live`, { signal: AbortSignal.timeout(5_000) })).status).toBe(200);
  const liveMs = performance.now() - started;
  const reply = (await answer).toString("latin1");
  expect(reply).toMatch(/^HTTP\/1\.1 413/);
  expect(reply).toContain('"code":"payload_too_large"');
  expect(liveMs).toBeLessThan(1_000);
});

/** Resident memory of the service process now, in MB. */
const rssMb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${service.pid}/status`, "utf8"))![1]) / 1024;

/** Runs `during` while sampling the service's RSS and probing /health/live every 50 ms. */
async function watched<T>(during: () => Promise<T>) {
  let running = true;
  let peakMb = rssMb();
  let slowestLiveMs = 0;
  const failedProbes: string[] = [];
  const sampler = (async () => {
    while (running) {
      peakMb = Math.max(peakMb, rssMb());
      await Bun.sleep(20);
    }
  })();
  const prober = (async () => {
    while (running) {
      const started = performance.now();
      try {
        const res = await fetch(`${base}/health/live`, { signal: AbortSignal.timeout(2_000) });
        if (res.status !== 200) failedProbes.push(`status ${res.status}`);
      } catch (err) {
        failedProbes.push((err as Error).message);
      }
      slowestLiveMs = Math.max(slowestLiveMs, performance.now() - started);
      await Bun.sleep(50);
    }
  })();
  try {
    return { result: await during(), stats: () => ({ peakMb, slowestLiveMs, failedProbes }) };
  } finally {
    running = false;
    await Promise.all([sampler, prober]);
  }
}

test("60 parallel 8 MiB chunked uploads: each is cut off with a 413 at the limit, RSS stays under 300 MB and the service answers throughout", async () => {
  const before = await settled();
  const rssBefore = rssMb();
  const { result: answers, stats } = await watched(() => Promise.all(Array.from({ length: 60 }, () => uploadChunked(port(), "/products", 8 * 1024 * 1024))));
  const upload: HostileCase = { name: "60 x 8 MiB chunked POST /products", method: "POST", path: "/products", headers: {}, expect: [413] };
  expect(answers.map((a) => judge(upload, a, SECRETS)).filter(Boolean).slice(0, 5)).toEqual([]);
  const { peakMb, slowestLiveMs, failedProbes } = stats();
  console.log(`60 x 8 MiB chunked uploads: peak RSS ${peakMb.toFixed(0)} MB (${rssBefore.toFixed(0)} MB before), slowest /health/live ${slowestLiveMs.toFixed(0)} ms`);
  expect(failedProbes).toEqual([]);
  expect(peakMb).toBeLessThan(300);
  expect(exited).toBe(false);
  expect(await snapshot(ctx.sql, ctx.redis, ctx.prefix)).toEqual(before);
}, 60_000);

test("500 concurrent /health/queues: every one answered from a shared read, and the service answers throughout", async () => {
  const before = await settled();
  const { result: answers, stats } = await watched(() =>
    Promise.all(Array.from({ length: 500 }, () => fetch(`${base}/health/queues`, { signal: AbortSignal.timeout(10_000) }).then(async (r) => ({ status: r.status, text: await r.text() })))),
  );
  expect(answers.filter((a) => a.status !== 200)).toEqual([]);
  // One read serves them all (two if the flood outlasts HEALTH_CACHE_MS).
  expect(new Set(answers.map((a) => a.text)).size).toBeLessThanOrEqual(2);
  expect(JSON.parse(answers[0]!.text)).toMatchObject({ totalQueues: expect.any(Number), queues: expect.any(Object) });
  expect(stats().failedProbes).toEqual([]);
  expect(await snapshot(ctx.sql, ctx.redis, ctx.prefix)).toEqual(before);
}, 60_000);

test("a body declared beyond twice MAX_BODY_BYTES is refused by the runtime itself, before the app reads it: a 413, nothing written", async () => {
  const before = await settled();
  const head = `POST /products HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${5 * 1024 * 1024}\r\n\r\n`;
  const reply = (await rawExchange(port(), Buffer.concat([Buffer.from(head), Buffer.alloc(256 * 1024, 0x20)]), { complete: (r) => r.includes("\r\n\r\n") })).toString("latin1");
  expect(reply).toMatch(/^HTTP\/1\.1 413/);
  expect(exited).toBe(false);
  expect(await snapshot(ctx.sql, ctx.redis, ctx.prefix)).toEqual(before);
});
