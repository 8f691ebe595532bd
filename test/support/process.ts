import type { Subprocess } from "bun";
import { fileURLToPath } from "node:url";
import { testEnv, waitFor } from "./context.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** What a child runs: the real service, the fault-test worker with its one slow handler, or one with an ordered handler. */
export const ENTRY = { main: "src/main.ts", worker: "test/fixtures/worker.ts", ordered: "test/fixtures/ordered-worker.ts" } as const;

export interface ServiceProcess {
  readonly label: string;
  readonly pid: number;
  /** Complete stdout lines so far (JSON log lines, and the worker's `STARTED <eventId>`). */
  readonly stdout: string[];
  readonly stderr: string[];
  /** The exit code; a process ended by a signal resolves with null. */
  readonly exited: Promise<number | null>;
  /** Resolves with the first stdout line matching `pattern`, waiting for it if needed. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** The exit code, or throws when the process is still running after `timeoutMs`. */
  waitForExit(timeoutMs?: number): Promise<number | null>;
  /** The HTTP port, read from the "orderstream started" log line (needs LOG_LEVEL info or lower). */
  port(timeoutMs?: number): Promise<number>;
  kill(signal: NodeJS.Signals): void;
}

const live = new Set<Subprocess>();

/**
 * Starts `bun <entry>` with the test's environment plus `overrides`. PORT defaults to 0 (the
 * kernel picks a free one; `port()` reads it back) and LOG_LEVEL to info so the start is visible.
 * Set TEST_CHILD_OUTPUT=1 to see children's output. Killed by `killProcesses()` if still running.
 */
export function startProcess(
  ctx: { prefix: string; databaseUrl: string },
  opts: { entry?: keyof typeof ENTRY; env?: Record<string, string>; label?: string } = {},
): ServiceProcess {
  const { entry = "worker", env = {} } = opts;
  const label = opts.label ?? env.CONSUMER_NAME ?? entry;
  const proc = Bun.spawn([process.execPath, ENTRY[entry]], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...testEnv(ctx, { LOG_LEVEL: "info", PORT: "0", ...env }) },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  live.add(proc);
  const stdout: string[] = [];
  const stderr: string[] = [];
  const reading = Promise.all([collectLines(proc.stdout, stdout, label), collectLines(proc.stderr, stderr, label)]);
  const exited = Promise.all([proc.exited, reading]).then(() => {
    live.delete(proc);
    return proc.signalCode ? null : proc.exitCode;
  });
  const tail = () => [...stdout.slice(-15), ...stderr.slice(-5)].map((l) => `  ${label}| ${l}`).join("\n");

  const self: ServiceProcess = {
    label, pid: proc.pid, stdout, stderr, exited,
    async waitForLine(pattern, timeoutMs = 15_000) {
      let ended = false;
      void exited.then(() => (ended = true));
      const found = await waitFor(`${label}: a line matching ${pattern}`, () => stdout.find((l) => pattern.test(l)) ?? (ended && { ended }), timeoutMs, 20)
        .catch((err: Error) => { throw new Error(`${err.message}\n${tail()}`); });
      if (typeof found !== "string") throw new Error(`${label} exited (${proc.exitCode ?? proc.signalCode}) before a line matching ${pattern}\n${tail()}`);
      return found;
    },
    async waitForExit(timeoutMs = 15_000) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${label} still running after ${timeoutMs} ms\n${tail()}`)), timeoutMs);
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async port(timeoutMs) {
      const line = await self.waitForLine(/"msg":"orderstream started"/, timeoutMs);
      return (JSON.parse(line) as { port: number }).port;
    },
    kill: (signal) => proc.kill(signal),
  };
  return self;
}

/** SIGKILLs every child still running and waits for them; call in afterEach, pass or fail. */
export async function killProcesses(): Promise<void> {
  const procs = [...live];
  for (const proc of procs) proc.kill("SIGKILL");
  await Promise.all(procs.map((p) => p.exited));
  live.clear();
}

async function collectLines(stream: ReadableStream<Uint8Array>, into: string[], label: string): Promise<void> {
  const echo = process.env.TEST_CHILD_OUTPUT === "1";
  const decoder = new TextDecoder();
  let partial = "";
  const push = (line: string) => {
    into.push(line);
    if (echo) process.stderr.write(`${label}| ${line}\n`);
  };
  for await (const chunk of stream) {
    const lines = (partial + decoder.decode(chunk, { stream: true })).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) push(line);
  }
  if (partial) push(partial);
}
