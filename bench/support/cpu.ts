// Where the CPU went during a measurement: this process (the side under test runs in it), the
// PostgreSQL and Redis server processes, and the whole machine. Server processes are summed by
// name, so another user's load on the same servers counts too: check the load average.
import { readdirSync, readFileSync } from "node:fs";

export interface CpuUse {
  /** CPU time of the benchmark process, ms. */
  processMs: number;
  /** CPU time of every `postgres` process (backends included), ms. */
  postgresMs: number;
  /** CPU time of every `redis-server` process, ms. */
  redisMs: number;
  /** Busy share of all cores over the interval, 0-100. */
  machineBusyPct: number;
}

// USER_HZ: 100 on every Linux build the benchmark is meant for.
const MS_PER_TICK = 10;

/** Starts measuring; the returned function reads the use since then. */
export function measureCpu(): () => CpuUse {
  const process0 = process.cpuUsage();
  const servers0 = readServers();
  const machine0 = readMachine();
  return () => {
    const used = process.cpuUsage(process0);
    const servers1 = readServers();
    const machine1 = readMachine();
    const total = machine1.total - machine0.total;
    const idle = machine1.idle - machine0.idle;
    return {
      processMs: Math.round((used.user + used.system) / 1000),
      postgresMs: grown(servers0, servers1, "postgres"),
      redisMs: grown(servers0, servers1, "redis-server"),
      machineBusyPct: total > 0 ? Math.round((100 * (total - idle)) / total) : 0,
    };
  };
}

/** CPU ms gained by processes named `name`; a process that exited in between is left out. */
function grown(before: Map<number, { comm: string; ticks: number }>, after: Map<number, { comm: string; ticks: number }>, name: string): number {
  let ticks = 0;
  for (const [pid, p] of after) if (p.comm === name) ticks += p.ticks - (before.get(pid)?.ticks ?? 0);
  return ticks * MS_PER_TICK;
}

function readServers(): Map<number, { comm: string; ticks: number }> {
  const out = new Map<number, { comm: string; ticks: number }>();
  let pids: string[] = [];
  try {
    pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      if (comm !== "postgres" && comm !== "redis-server") continue;
      const fields = stat.slice(close + 2).split(" ");
      out.set(Number(pid), { comm, ticks: Number(fields[11]) + Number(fields[12]) }); // utime, stime
    } catch {
      // the process ended while listing
    }
  }
  return out;
}

function readMachine(): { total: number; idle: number } {
  try {
    const fields = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    const [, , , idle = 0, iowait = 0] = fields;
    return { total: fields.reduce((a, b) => a + b, 0), idle: idle + iowait };
  } catch {
    return { total: 0, idle: 0 };
  }
}
