// The rules every endpoint follows: one error shape, request ids, body limits, JSON only, 503 when
// PostgreSQL is down.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { createDatabase } from "../src/db/client.ts";
import { createApp } from "../src/http/app.ts";
import { startTestApi, type TestApi } from "./support/api.ts";
import { createTestContext, type TestContext } from "./support/context.ts";
import { countRows } from "./support/db.ts";
import { checkContract } from "./support/contract.ts";

let ctx: TestContext;
let api: TestApi;
beforeEach(async () => {
  ctx = await createTestContext();
  api = await startTestApi(ctx, { engine: false });
});
afterEach(() => ctx.cleanup());

const product = { tenantId: "t1", sku: "A", name: "A", price: 1, stock: 1 };

test("every response carries X-Request-Id, the caller's own when it sent a usable one", async () => {
  const ok = await api.call("POST", "/products", product);
  expect(ok.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  const err = await api.call("GET", "/products/not-a-uuid", undefined, { "X-Request-Id": "trace-abc-123" });
  expect(err.headers.get("x-request-id")).toBe("trace-abc-123");
  expect(err.body.error.requestId).toBe("trace-abc-123");
  const unknown = await api.call("GET", "/nowhere");
  expect(unknown.status).toBe(404);
  expect(unknown.body.error).toMatchObject({ code: "not_found", requestId: unknown.headers.get("x-request-id") });
});

test("malformed JSON is a 400 validation_failed, not a 500", async () => {
  for (const raw of ["{", '{"tenantId": }', "nul", '{"a":1}x', ""]) {
    const res = await api.call("POST", "/products", raw, { "content-type": "application/json" });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("validation_failed");
  }
});

test("a body that is not JSON by its Content-Type is a 400 saying so", async () => {
  const res = await api.call("POST", "/products", JSON.stringify(product), { "content-type": "text/plain" });
  expect(res.status).toBe(400);
  expect(res.body.error.details[0]).toEqual({ path: "(body)", message: "expected a JSON body with Content-Type: application/json" });
});

test("a body over the 1 MiB limit is 413 payload_too_large and writes nothing", async () => {
  const huge = JSON.stringify({ ...product, name: "x".repeat(1024 * 1024) });
  const res = await api.call("POST", "/products", huge);
  expect(res.status).toBe(413);
  expect(res.body.error.code).toBe("payload_too_large");
  expect(await countRows(ctx, "products")).toBe(0);
});

test("a chunked body is cut off once it passes MAX_BODY_BYTES: the rest of the stream is never read", async () => {
  const chunk = new Uint8Array(64 * 1024).fill(0x20);
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled += chunk.byteLength;
      controller.enqueue(chunk);
      if (pulled >= 8 * 1024 * 1024) controller.close();
    },
  });
  const res = await api.app.request("/products", { method: "POST", headers: { "content-type": "application/json" }, body, duplex: "half" } as RequestInit);
  expect(res.status).toBe(413);
  expect(((await res.json()) as { error: { code: string } }).error.code).toBe("payload_too_large");
  // The limit, plus what the stream had queued when the reader stopped.
  expect(pulled).toBeLessThanOrEqual(1024 * 1024 + 4 * chunk.byteLength);
  expect(await countRows(ctx, "products")).toBe(0);
});

test("a chunked body within MAX_BODY_BYTES, sent in many small pieces, is read whole", async () => {
  // 50 kB: JSON may end in any amount of whitespace.
  const text = JSON.stringify(product) + " ".repeat(50_000);
  const bytes = new TextEncoder().encode(text);
  let at = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.subarray(at, at + 100));
      at += 100;
    },
  });
  const res = await api.app.request("/products", { method: "POST", headers: { "content-type": "application/json" }, body, duplex: "half" } as RequestInit);
  expect(res.status).toBe(201);
  expect(await countRows(ctx, "products")).toBe(1);
});

test("with PostgreSQL unreachable, writes answer 503 unavailable without leaking the URL", async () => {
  const down = createDatabase("postgres://orderstream:s3cret-pw@127.0.0.1:1/none", { max: 1, connectTimeout: 2 });
  const app = createApp({ ...down, config: ctx.config(), redis: ctx.redis, engine: null, log: ctx.log, version: "test", startedAt: Date.now() });
  checkContract(app);
  try {
    const res = await app.request("/products", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(product) });
    expect(res.status).toBe(503);
    const text = await res.text();
    expect(JSON.parse(text).error.code).toBe("unavailable");
    expect(text).not.toContain("s3cret-pw");
  } finally {
    await down.sql.end({ timeout: 0 });
  }
});
