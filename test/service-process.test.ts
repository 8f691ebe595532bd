// The service as it runs in production, as a child process: what only a real listening server
// shows (a second port for /metrics, a client that never finishes its body at SIGTERM).
import { afterEach, beforeEach, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { createTestContext, type TestContext } from "./support/context.ts";
import { freePort } from "./support/private-redis.ts";
import { killProcesses, startProcess } from "./support/process.ts";

let ctx: TestContext;
const sockets: Socket[] = [];
beforeEach(async () => (ctx = await createTestContext()));
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await killProcesses();
  await ctx.cleanup();
});

test("with METRICS_PORT, /metrics is served on that port only, and the API's port has no /metrics", async () => {
  const metricsPort = await freePort();
  const service = startProcess(ctx, { entry: "main", env: { METRICS_PORT: String(metricsPort) } });
  const port = await service.port();
  const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  expect(metrics.status).toBe(200);
  expect(await metrics.text()).toContain("orderstream_build_info");
  expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(404);
  expect((await fetch(`http://127.0.0.1:${metricsPort}/health/live`)).status).toBe(404);
  expect((await fetch(`http://127.0.0.1:${port}/health/live`)).status).toBe(200);
});

test("SIGTERM exits within SHUTDOWN_TIMEOUT_MS although a client is still dripping a request body", async () => {
  const service = startProcess(ctx, { entry: "main", env: { SHUTDOWN_TIMEOUT_MS: "1000" } });
  const port = await service.port();
  const socket = connect(port, "127.0.0.1");
  sockets.push(socket);
  socket.on("error", () => {});
  socket.write("POST /products HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
  // One byte every 200 ms for up to 30 s: the request stays in flight, never idle.
  const drip = setInterval(() => socket.write("1\r\n \r\n"), 200);
  try {
    await Bun.sleep(500);
    const started = performance.now();
    service.kill("SIGTERM");
    expect(await service.waitForExit(6_000)).toBe(0);
    expect(performance.now() - started).toBeLessThan(3_500);
    expect(service.stdout.some((l) => /"msg":"stopped"/.test(l))).toBe(true);
  } finally {
    clearInterval(drip);
  }
}, 20_000);
