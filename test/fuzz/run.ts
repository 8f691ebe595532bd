// bun run fuzz [--runs N] [--max-seconds S] [--concurrency C] [--seed S]
//
// Requests generated from /openapi.json (fast-check arbitraries derived from its schemas) against
// a live service (a real `bun src/main.ts`, NODE_ENV=production, API_AUTH=keys), with the admin
// token and a tenant API key:
// - invalid requests (one thing broken) go through a Prism proxy without --errors, which forwards
//   them and reports what it finds in the response: each must be refused with a documented 4xx,
//   never a 5xx, with no response violation, and the refused requests of each operation must
//   change nothing (a digest of every table and of the paused handlers, before and after). A body
//   Prism cannot carry as sent (malformed JSON, JSON null or a string) goes straight to the service;
// - valid requests go through Stoplight Prism (`prism proxy --errors`), which checks the request
//   and the response against the document: no violation, no 5xx.
// Every response is also checked against the document with Ajv (status, content type, body).
import fc from "fast-check";
import postgres from "postgres";
import Redis from "ioredis";
import { buildOpenApiDocument } from "../../src/http/openapi-document.ts";
import { contractFor } from "../support/contract.ts";
import { invalidRequest, operationsOf, validRequest, type Req } from "./cases.ts";
import { freePort } from "../support/private-redis.ts";
import { REDIS_URL, startPrism, startService } from "./processes.ts";
import { seed } from "./setup.ts";
import { checkInvalid, checkValid, pool, prismCarries, send } from "./send.ts";
import { changed, settle, snapshot } from "./state.ts";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const RUNS = arg("runs", 100);
const MAX_SECONDS = arg("max-seconds", 600);
const CONCURRENCY = arg("concurrency", 16);
const SEED = arg("seed", Date.now() % 2 ** 31);

const started = Date.now();
const deadline = started + MAX_SECONDS * 1000;
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;

const document = await buildOpenApiDocument();
const docPath = `${process.env.TMPDIR ?? "/tmp"}/orderstream-fuzz-${process.pid}.json`;
await Bun.write(docPath, JSON.stringify(document));
const contract = contractFor(document);
const operations = operationsOf(document);

// Started together: Prism answers (with its own error) until the service is up behind it.
const port = await freePort();
const upstream = `http://127.0.0.1:${port}`;
const [service, proxy, lax] = await Promise.all([startService(port), startPrism(docPath, upstream, { errors: true }), startPrism(docPath, upstream, { errors: false })]).catch((err) => {
  console.error(err);
  process.exit(2);
});
const sql = postgres(service.databaseUrl, { max: 2, onnotice: () => {} });
const redis = new Redis(REDIS_URL);

interface Tally { valid: number; invalid: number; failures: string[]; statuses: Map<number, number> }
const tally = new Map(operations.map((op) => [op.id, { valid: 0, invalid: 0, failures: [], statuses: new Map() } as Tally]));
const record = (id: string, status: number) => tally.get(id)!.statuses.set(status, (tally.get(id)!.statuses.get(status) ?? 0) + 1);
const fail = (id: string, problem: string) => tally.get(id)!.failures.push(problem);

try {
  const { creds, pools } = await seed(service);
  await settle(sql, redis, service.prefix);
  console.log(`service, Prism and seed data ready after ${elapsed()}; seed ${SEED}, ${RUNS} cases per operation, ${operations.length} operations`);

  // Invalid requests first, one operation at a time, while nothing else writes.
  for (const [i, op] of operations.entries()) {
    const arb = invalidRequest(document, op, pools, creds);
    if (!arb) continue;
    const count = Math.max(RUNS - Math.ceil(RUNS * 0.6), 1);
    const requests = fc.sample(arb, { numRuns: count, seed: SEED + i });
    const before = await snapshot(sql, redis, service.prefix);
    await pool(requests, CONCURRENCY, deadline, async (req) => {
      tally.get(op.id)!.invalid++;
      const problems = await send(prismCarries(req) ? lax.url : service.url, req, service.webhookSecret).then((res) => (record(op.id, res.status), checkInvalid(contract, req, res)), (err) => [`no answer: ${err}`]);
      for (const p of problems) fail(op.id, `${label(req)}: ${p}`);
    });
    const diff = changed(before, await snapshot(sql, redis, service.prefix));
    if (diff.length) fail(op.id, `refused requests changed stored data: ${diff.join(", ")}`);
    assertRunning();
  }
  console.log(`invalid requests done after ${elapsed()}`);
  const validStarted = Date.now();

  // Valid requests for every operation, mixed, through Prism.
  const valid: { id: string; req: Req }[] = [];
  for (const [i, op] of operations.entries()) {
    const count = invalidRequest(document, op, pools, creds) ? Math.ceil(RUNS * 0.6) : RUNS;
    for (const req of fc.sample(validRequest(document, op, pools, creds), { numRuns: count, seed: SEED + 1000 + i })) valid.push({ id: op.id, req });
  }
  fc.sample(fc.shuffledSubarray(valid, { minLength: valid.length, maxLength: valid.length }), { numRuns: 1, seed: SEED })[0]!.forEach((v, i) => (valid[i] = v));
  await pool(valid, CONCURRENCY, deadline, async ({ id, req }) => {
    tally.get(id)!.valid++;
    const problems = await send(proxy.url, req, service.webhookSecret).then((res) => (record(id, res.status), checkValid(contract, req, res)), (err) => [`no answer: ${err}`]);
    for (const p of problems) fail(id, `${label(req)}: ${p}`);
  });
  assertRunning();
  console.log(`valid requests through Prism done after ${elapsed()} (${((Date.now() - validStarted) / 1000).toFixed(1)} s)`);
  if (Date.now() > deadline) console.error(`stopped at the time limit (${MAX_SECONDS} s)`);
} finally {
  await Promise.allSettled([proxy.child.stop(), lax.child.stop(), sql.end()]);
  redis.disconnect();
  await service.stop();
  await Bun.file(docPath).delete().catch(() => {});
}

/** A process that died mid-run would turn every later case into a failure: stop with its last words. */
function assertRunning(): void {
  for (const [name, child] of [["the service", service.child], ["Prism (--errors)", proxy.child], ["Prism", lax.child]] as const) {
    if (child.proc.exitCode !== null) throw new Error(`${name} exited (${child.proc.exitCode}):\n${child.output.slice(-15).join("\n")}`);
  }
}

function label(req: Req): string {
  return `${req.method} ${req.path}${req.query.length ? `?${new URLSearchParams(req.query)}` : ""}`.slice(0, 160);
}

let cases = 0;
let failures = 0;
let short = 0;
console.log(`\n${"operation".padEnd(28)} ${"valid".padStart(6)} ${"invalid".padStart(8)} ${"failures".padStart(9)}  statuses`);
for (const op of operations) {
  const t = tally.get(op.id)!;
  cases += t.valid + t.invalid;
  failures += t.failures.length;
  if (t.valid + t.invalid < RUNS) short++;
  const statuses = [...t.statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(" ");
  console.log(`${op.id.padEnd(28)} ${String(t.valid).padStart(6)} ${String(t.invalid).padStart(8)} ${String(t.failures.length).padStart(9)}  ${statuses}`);
}
for (const op of operations) {
  const t = tally.get(op.id)!;
  for (const f of t.failures.slice(0, 5)) console.log(`  ✗ ${op.id}: ${f}`);
  if (t.failures.length > 5) console.log(`  … ${t.failures.length - 5} more for ${op.id}`);
}
console.log(`\n${operations.length} operations, ${cases} cases, ${failures} failures, ${elapsed()}${short ? `; ${short} operations below ${RUNS} cases (time limit)` : ""}`);
process.exit(failures > 0 || short > 0 ? 1 : 0);
