import type { Subprocess } from "bun";
import { createServer } from "node:net";
import { waitFor } from "./context.ts";

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface PrivateRedis {
  port: number;
  url: string;
  /** Starts (or starts again) an empty redis-server on the port: no persistence, so a restart loses everything. */
  start(): Promise<void>;
  /** SIGKILLs it, as a crash would. */
  kill(): Promise<void>;
}

const running = new Set<Subprocess>();

/**
 * A redis-server of the test's own, for outages and data loss that must not touch the machine's
 * shared Redis (other engineers' tests run against it). Killed by `killPrivateRedis()`.
 */
export async function privateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let proc: Subprocess | null = null;
  const self: PrivateRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      proc = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning"], {
        stdin: "ignore", stdout: "ignore", stderr: "ignore",
      });
      running.add(proc);
      await waitFor(`redis-server on ${port}`, async () => {
        const ping = Bun.spawn(["redis-cli", "-p", String(port), "ping"], { stdout: "pipe", stderr: "ignore" });
        return (await new Response(ping.stdout).text()).trim() === "PONG";
      }, 10_000, 50);
    },
    async kill() {
      if (!proc) return;
      proc.kill("SIGKILL");
      await proc.exited;
      running.delete(proc);
      proc = null;
    },
  };
  return self;
}

/** Kills every private redis-server still running; call in afterEach. */
export async function killPrivateRedis(): Promise<void> {
  const procs = [...running];
  for (const p of procs) p.kill("SIGKILL");
  await Promise.all(procs.map((p) => p.exited));
  running.clear();
}
