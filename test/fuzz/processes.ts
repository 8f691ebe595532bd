import type { Subprocess } from "bun";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { freePort } from "../support/private-redis.ts";

// The live service the fuzz run talks to (a real `bun src/main.ts` with its own database, Redis
// prefix, port and admin token, as in production) and Stoplight Prism in front of it.

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SERVER_URL = process.env.FUZZ_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
// A Redis database of its own: the service SCANs its keyspace (health, queues), which on a Redis
// shared with other work holds everyone's keys.
export const REDIS_URL = process.env.FUZZ_REDIS_URL ?? "redis://127.0.0.1:6379/13";

export interface Child { proc: Subprocess; output: string[]; stop(): Promise<void> }

function spawn(cmd: string[], env: Record<string, string>): Child {
  const proc = Bun.spawn(cmd, { cwd: ROOT, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const output: string[] = [];
  // Drained, so a chatty child never blocks on a full pipe; the last lines are kept for errors.
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      output.push(...decoder.decode(chunk).split("\n").filter(Boolean));
      if (output.length > 400) output.splice(0, output.length - 200);
    }
  };
  void drain(proc.stdout as ReadableStream<Uint8Array>);
  void drain(proc.stderr as ReadableStream<Uint8Array>);
  return {
    proc, output,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode) return;
      proc.kill("SIGTERM");
      const killed = setTimeout(() => proc.kill("SIGKILL"), 8_000);
      await proc.exited;
      clearTimeout(killed);
    },
  };
}

async function waitUntil(what: string, check: () => Promise<boolean>, child: Child, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.proc.exitCode !== null) throw new Error(`${what}: the process exited (${child.proc.exitCode})\n${child.output.slice(-20).join("\n")}`);
    if (await check().catch(() => false)) return;
    await Bun.sleep(100);
  }
  throw new Error(`${what}: not ready after ${timeoutMs} ms\n${child.output.slice(-20).join("\n")}`);
}

export interface Service {
  url: string;
  databaseUrl: string;
  prefix: string;
  adminToken: string;
  webhookSecret: Buffer;
  child: Child;
  stop(): Promise<void>;
}

/** `bun src/main.ts` as in production (NODE_ENV=production, API_AUTH=keys), on a database of its own. */
export async function startService(port: number): Promise<Service> {
  const id = `${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
  const database = `orderstream_fuzz_${id}`;
  const admin = postgres(SERVER_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database "${database}"`);
  const databaseUrl = `${SERVER_URL.replace(/\/[^/]*$/, "")}/${database}`;
  const adminToken = randomBytes(24).toString("base64url");
  const webhookSecret = randomBytes(24);
  const prefix = `fuzz${id}`;
  const child = spawn([process.execPath, "src/main.ts"], {
    NODE_ENV: "production", API_AUTH: "keys", ADMIN_TOKEN: adminToken, PORT: String(port),
    DATABASE_URL: databaseUrl, REDIS_URL, STREAM_PREFIX: prefix, CONSUMER_NAME: `${prefix}-1`,
    WEBHOOK_SECRETS: `acme=whsec_${webhookSecret.toString("base64")}`,
    WEBHOOK_SCOPES: "acme=*",
    LOG_LEVEL: "warn", RELAY_CRON: "* * * * * *", CLAIM_IDLE_MS: "1500", READ_BLOCK_MS: "200", SHUTDOWN_TIMEOUT_MS: "5000",
    // No maintenance or stats flush during the run: nothing but requests and handlers writes.
    MAINTENANCE_CRON: "0 0 1 1 *", STATS_INTERVAL_MS: "3600000",
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await child.stop();
    const { default: Redis } = await import("ioredis");
    const redis = new Redis(REDIS_URL);
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== "0");
    redis.disconnect();
    await admin.unsafe(`drop database if exists "${database}" with (force)`);
    await admin.end();
  };
  try {
    await waitUntil("the service", async () => (await fetch(`${url}/health/ready`)).status === 200, child, 60_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, databaseUrl, prefix, adminToken, webhookSecret, child, stop };
}

/**
 * Prism in proxy mode: it checks every request and response against `docPath` and forwards the
 * request to `upstream`. With `errors` (`--errors`) a request that breaks the document is refused
 * by Prism itself (422) and a response that breaks it becomes a 500; without, both are forwarded
 * and the violations reported in the `sl-violations` header (how invalid requests reach the service).
 */
export async function startPrism(docPath: string, upstream: string, { errors }: { errors: boolean }): Promise<{ url: string; child: Child }> {
  const port = await freePort();
  const cli = `${ROOT}node_modules/@stoplight/prism-cli/dist/index.js`;
  // Violations come back in the answers; its per-request log would only cost time.
  const child = spawn(["node", cli, "proxy", ...(errors ? ["--errors"] : []), "-v", "warn", "-h", "127.0.0.1", "-p", String(port), docPath, upstream], {});
  const url = `http://127.0.0.1:${port}`;
  await waitUntil("prism", async () => (await fetch(`${url}/health/live`)).status > 0, child, 60_000);
  return { url, child };
}
