// The real service as a child process: its own environment, the last lines of its output kept
// (never all of it), stopped with SIGTERM and then SIGKILL, and killed by the cleanup stack.
import type { Subprocess } from "bun";
import { fileURLToPath } from "node:url";
import { deferCleanup } from "./cleanup.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const KEEP_LINES = 40;

export interface Child {
  pid: number;
  exited: Promise<number>;
  /** True once the process has ended. */
  exitCodeKnown(): boolean;
  /** The last lines of stdout and stderr, for an error message. */
  tail(): string;
  stop(): Promise<void>;
}

export function spawnService(entry: string, env: Record<string, string>, label: string): Child {
  const proc: Subprocess<"ignore", "pipe", "pipe"> = Bun.spawn([process.execPath, entry], {
    cwd: ROOT,
    // BUN_JSC_* (the JavaScript engine's tuning) passes through, so its effect on memory can be measured.
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("BUN_JSC_"))) as Record<string, string>, ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const exitCodeKnown = () => proc.exitCode !== null || proc.signalCode !== null;
  const lines: string[] = [];
  void keepTail(proc.stdout, lines);
  void keepTail(proc.stderr, lines);
  const stop = deferCleanup(`${label} (pid ${proc.pid})`, async () => {
    if (exitCodeKnown()) return;
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 12_000);
    await proc.exited;
    clearTimeout(timer);
  });
  return { pid: proc.pid, exited: proc.exited, exitCodeKnown, tail: () => lines.map((l) => `  ${label}| ${l}`).join("\n"), stop };
}

/** Port numbers free right now (the kernel's choice), for a child that needs one up front. */
export function freePort(): number {
  const server = Bun.serve({ port: 0, fetch: () => new Response() });
  const port = server.port!;
  server.stop(true);
  return port;
}

/** A process's memory counters from /proc (kB), e.g. VmHWM (peak resident) and VmRSS. */
export async function readMemory(pid: number): Promise<{ vmHwmKb: number; vmRssKb: number } | null> {
  try {
    const status = await Bun.file(`/proc/${pid}/status`).text();
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
    return { vmHwmKb: kb("VmHWM"), vmRssKb: kb("VmRSS") };
  } catch {
    return null;
  }
}

async function keepTail(stream: ReadableStream<Uint8Array>, into: string[]): Promise<void> {
  const decoder = new TextDecoder();
  let partial = "";
  for await (const chunk of stream) {
    const parts = (partial + decoder.decode(chunk, { stream: true })).split("\n");
    partial = (parts.pop() ?? "").slice(-2000);
    for (const line of parts) {
      into.push(line.slice(0, 500));
      if (into.length > KEEP_LINES) into.shift();
    }
  }
}
