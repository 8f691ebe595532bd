import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./private-redis.ts";

const BIN = "/usr/lib/postgresql/15/bin";

export interface PrivatePostgres {
  port: number;
  /** A database URL on this cluster (the service's MIGRATE_ON_START creates the database). */
  url(database: string): string;
  start(): Promise<void>;
  /** `pg_ctl stop -m immediate`: every connection drops, as in a crash. */
  stop(): Promise<void>;
  destroy(): Promise<void>;
}

async function asPostgres(args: string[]): Promise<void> {
  const proc = Bun.spawn(["runuser", "-u", "postgres", "--", ...args], { stdout: "pipe", stderr: "pipe" });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`${args[0]} exited ${code}: ${(await new Response(proc.stderr).text()).slice(-500)}`);
}

/**
 * A PostgreSQL cluster of the test's own (initdb in a temporary directory, trust auth, a free
 * port), for outages that must not touch the machine's shared server. Needs root (runuser).
 */
export async function privatePostgres(): Promise<PrivatePostgres> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "orderstream-pg-"));
  const id = (flag: string) => Number(Bun.spawnSync(["id", flag, "postgres"]).stdout.toString().trim());
  chownSync(dir, id("-u"), id("-g"));
  const data = join(dir, "data");
  await asPostgres([`${BIN}/initdb`, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]);
  const ctl = (...args: string[]) => asPostgres([`${BIN}/pg_ctl`, "-D", data, "-l", join(dir, "log"), ...args]);
  let running = false;
  return {
    port,
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    async start() {
      await ctl("-w", "-o", `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c fsync=off`, "start");
      running = true;
    },
    async stop() {
      await ctl("-m", "immediate", "stop");
      running = false;
    },
    async destroy() {
      if (running) await ctl("-m", "immediate", "stop").catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
