import { afterEach, beforeEach, expect, test } from "bun:test";
import { startTestApi, type TestApi } from "./support/api.ts";
import { createTestContext, type TestContext } from "./support/context.ts";
import { contractOf } from "./support/contract.ts";

// The contract cannot drift: every route the app registers is in /openapi.json and every
// documented operation is served. The response check itself (support/contract.ts) runs in every
// HTTP test through the shared helper; here it is shown to catch a response that does not conform.

/**
 * Routes deliberately left out of the document, each with its reason. The console is HTML pages
 * for people behind a login form and a CSRF token, not part of the JSON API; its actions are all
 * in the JSON API too (README, The console).
 */
const UNDOCUMENTED = [{ prefix: "/ui", why: "the console: HTML pages for people, not the JSON API" }];

let ctx: TestContext;
let api: TestApi;

beforeEach(async () => {
  ctx = await createTestContext();
  api = await startTestApi(ctx, { engine: false });
});
afterEach(async () => {
  await ctx.cleanup();
});

const asTemplate = (path: string) => path.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, "{$1}").replace(/(.)\/$/, "$1");

test("every route registered on the app is in the OpenAPI document, and every documented operation is served", async () => {
  const res = await api.call("GET", "/openapi.json");
  expect(res.status).toBe(200);
  const paths = res.body.paths as Record<string, Record<string, unknown>>;
  const documented = new Set(Object.entries(paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)));
  const served = new Set(
    api.app.routes
      .filter((r) => r.method !== "ALL")
      .filter((r) => !UNDOCUMENTED.some((u) => r.path === u.prefix || r.path.startsWith(`${u.prefix}/`)))
      .map((r) => `${r.method} ${asTemplate(r.path)}`),
  );
  expect([...served].filter((r) => !documented.has(r))).toEqual([]);
  expect([...documented].filter((r) => !served.has(r))).toEqual([]);
  expect(served.size).toBeGreaterThan(30);
});

test("the document is OpenAPI 3.1 with the security schemes the operations name, and every operation has an id, a summary and error responses", async () => {
  const doc = (await api.call("GET", "/openapi.json")).body;
  expect(doc.openapi).toBe("3.1.0");
  expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(["adminToken", "apiKey", "metricsToken", "shopeeSignature", "webhookSignature"]);
  for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
    for (const [method, op] of Object.entries(ops)) {
      expect({ path, method, operationId: typeof op.operationId, summary: typeof op.summary }).toEqual({ path, method, operationId: "string", summary: "string" });
      for (const scheme of (op.security ?? []).flatMap((s: object) => Object.keys(s))) expect(doc.components.securitySchemes[scheme]).toBeDefined();
      if (!path.startsWith("/health") && path !== "/metrics" && path !== "/openapi.json" && path !== "/docs") {
        expect(op.responses["500"].content["application/json"].schema.$ref).toBe("#/components/schemas/Error");
      }
    }
  }
});

test("GET /docs is the interactive reference on /openapi.json", async () => {
  const res = await api.call("GET", "/docs");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/html");
  expect(res.body).toContain("/openapi.json");
});

test("the contract check reports an undocumented status, a wrong content type and a body that does not match", () => {
  const contract = contractOf(api.app);
  const ok = { status: 404, contentType: "application/json", body: JSON.stringify({ error: { code: "not_found", message: "product not found", requestId: "r1" } }) };
  expect(contract.check("GET", "/products/0b9a7f3e-5c1d-4e2f-9a8b-7c6d5e4f3a21", ok)).toEqual([]);
  expect(contract.check("GET", "/products/x", { ...ok, status: 418 })[0]).toContain("status not documented");
  expect(contract.check("GET", "/products/x", { ...ok, contentType: "text/plain" })[0]).toContain("content type");
  expect(contract.check("GET", "/products/x", { ...ok, body: JSON.stringify({ error: { code: "nope" } }) })[0]).toContain("does not match");
  expect(contract.check("DELETE", "/api-keys/x", { status: 204, contentType: null, body: "" })).toEqual([]);
  // Routes outside the document (the console, an unknown path) are the drift test's business.
  expect(contract.check("GET", "/ui/dlq", { status: 200, contentType: "text/html", body: "<html>" })).toEqual([]);
});

test("a Content-Type the body validator does not take as JSON is the usual 400 naming the body, not a 415", async () => {
  for (const type of ["application/json ; charset=utf-8", "application/vnd_x+json", "application/json;"]) {
    const res = await api.call("POST", "/api-keys", { tenantId: "t1" }, { "content-type": type });
    expect({ type, status: res.status, code: res.body.error.code, path: res.body.error.details[0].path }).toEqual({ type, status: 400, code: "validation_failed", path: "(body)" });
  }
});
