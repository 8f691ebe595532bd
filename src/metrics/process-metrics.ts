import { Counter, Gauge, type Registry } from "prom-client";

/**
 * Memory and CPU of this process, read at scrape time. Written by hand because prom-client's
 * collectDefaultMetrics reports nonsense under Bun (event-loop lag NaN, heap figures).
 */
export function registerProcessMetrics(registry: Registry): void {
  const registers = [registry];
  new Gauge({
    name: "process_resident_memory_bytes",
    help: "Resident memory size in bytes.",
    registers,
    collect() {
      this.set(process.memoryUsage().rss);
    },
  });
  // Counters re-set to the running total at each scrape: process.cpuUsage() already is one.
  const cpu = (name: string, help: string, read: (u: NodeJS.CpuUsage) => number) =>
    new Counter({
      name, help, registers,
      collect() {
        this.reset();
        this.inc(read(process.cpuUsage()) / 1e6);
      },
    });
  cpu("process_cpu_user_seconds_total", "User CPU time spent in seconds.", (u) => u.user);
  cpu("process_cpu_system_seconds_total", "System CPU time spent in seconds.", (u) => u.system);
  cpu("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", (u) => u.user + u.system);
  new Gauge({ name: "process_start_time_seconds", help: "Start time of the process since unix epoch in seconds.", registers })
    .set(Math.round((Date.now() - performance.now()) / 1000));
}
