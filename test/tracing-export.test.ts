// The service as it runs in production, exporting its spans over OTLP/HTTP to a collector: here a
// stand-in that records what it receives.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { killProcesses, startProcess } from "./support/process.ts";

let ctx: TestContext;
let collector: ReturnType<typeof Bun.serve> | undefined;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(async () => {
  await killProcesses();
  await collector?.stop(true);
  await ctx.cleanup();
});

interface OtlpExport {
  resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: { name: string; traceId: string }[] }[] }[];
}

test("with OTEL_EXPORTER_OTLP_ENDPOINT the service sends its spans to <endpoint>/v1/traces, the last ones when it stops", async () => {
  const received: { path: string; body: OtlpExport }[] = [];
  collector = Bun.serve({
    port: 0,
    async fetch(req) {
      received.push({ path: new URL(req.url).pathname, body: (await req.json()) as OtlpExport });
      return Response.json({});
    },
  });
  const service = startProcess(ctx, { entry: "main", env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector.port}/`, SERVICE_NAME: "shop-eu" } });
  const port = await service.port();
  expect(service.stdout.find((l) => l.includes('"msg":"orderstream started"'))).toContain('"tracing":"otlp"');
  const created = await fetch(`http://127.0.0.1:${port}/products`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ tenantId: "tenant-1", sku: "MUG", name: "Mug", price: 10, stock: 1 }),
  });
  expect(created.status).toBe(201);
  await waitFor("analytics to count the product", async () =>
    (await (await fetch(`http://127.0.0.1:${port}/tenants/tenant-1/stats`)).json() as { productsCreated: number }).productsCreated === 1);
  // Spans are sent in batches every few seconds; stopping sends what is still buffered.
  service.kill("SIGTERM");
  expect(await service.waitForExit(10_000)).toBe(0);

  expect(new Set(received.map((r) => r.path))).toEqual(new Set(["/v1/traces"]));
  const resources = received.flatMap((r) => r.body.resourceSpans);
  const services = resources.map((r) => r.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue);
  expect(new Set(services)).toEqual(new Set(["shop-eu"]));
  const spans = resources.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
  const request = spans.find((s) => s.name === "POST /products");
  expect(request).toBeDefined();
  const inTrace = spans.filter((s) => s.traceId === request!.traceId).map((s) => s.name).sort();
  expect(inTrace).toEqual(["POST /products", "process product.created", "publish product.created"]);
}, 30_000);

test("a collector that never answers does not hold up the shutdown: buffered spans get 2 s", async () => {
  let requests = 0;
  collector = Bun.serve({
    port: 0,
    fetch: () => {
      requests++;
      return new Promise<Response>(() => {}); // accepts the export, never answers it
    },
  });
  const service = startProcess(ctx, { entry: "main", env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector.port}`, SHUTDOWN_TIMEOUT_MS: "1000" } });
  const port = await service.port();
  expect((await fetch(`http://127.0.0.1:${port}/health/live`)).status).toBe(200);
  const started = performance.now();
  service.kill("SIGTERM");
  expect(await service.waitForExit(15_000)).toBe(0);
  expect(requests).toBeGreaterThan(0);
  // Without the bound, the export would wait for its own 10 s timeout.
  expect(performance.now() - started).toBeLessThan(5_000);
}, 30_000);
