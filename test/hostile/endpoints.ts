// Every endpoint's valid request, and its hostile variants: bodies (through cases.ts), path
// parameters, query parameters, headers and admin tokens.
import { EVENT_TYPES } from "../../src/events/catalog.ts";
import { JSON_TYPE, jsonEndpointCases, type Field, type HostileCase, type JsonEndpoint } from "./cases.ts";
import { SEED } from "./values.ts";

/** What the valid requests point at: rows that exist, so a wrongly accepted request changes something. */
export interface Fixtures {
  productId: string;
  orderId: string;
  deadLetterId: string;
  /** A stored webhook of provider `acme`. */
  webhookId: string;
  adminToken: string;
}

const line = (max: number) => ({ type: "line", max }) as const;
const ident = (max = 100) => ({ type: "identifier", max }) as const;
const whole = { type: "whole" } as const;
const address = { firstName: "Ada", lastName: "Lovelace", address1: "1 Main St", address2: "Floor 2", city: "Berlin", postalCode: "10115", country: "DE" };
const addressFields = (at: string, optional = false): Field[] => [
  { path: [at], kind: whole, optional },
  ...(["firstName", "lastName", "city"] as const).map((k) => ({ path: [at, k], kind: line(100) })),
  { path: [at, "address1"], kind: line(200) },
  { path: [at, "address2"], kind: line(200), optional: true },
  { path: [at, "postalCode"], kind: line(20) },
  { path: [at, "country"], kind: { type: "country" } },
];

export function jsonEndpoints(f: Fixtures): JsonEndpoint[] {
  const admin = { authorization: `Bearer ${f.adminToken}` };
  return [
    {
      method: "POST", path: "/products",
      body: { tenantId: "hostile-shop", sku: "H-1", name: "Hostile mug", price: 12.5, stock: 3 },
      fields: [
        { path: ["tenantId"], kind: ident() }, { path: ["sku"], kind: ident() }, { path: ["name"], kind: line(200) },
        { path: ["price"], kind: { type: "money" } }, { path: ["stock"], kind: { type: "int", min: 0, max: 2_147_483_647 } },
      ],
      strict: [[]],
    },
    {
      method: "POST", path: "/orders",
      body: {
        tenantId: "hostile-shop", customerId: "cust-1", customerEmail: "buyer@example.com",
        items: [{ productId: f.productId, quantity: 1, unitPrice: 12.5 }], shippingAddress: address, billingAddress: address,
      },
      fields: [
        { path: ["tenantId"], kind: ident() }, { path: ["customerId"], kind: ident(255) }, { path: ["customerEmail"], kind: { type: "email" } },
        { path: ["items"], kind: whole }, { path: ["items", 0], kind: whole }, { path: ["items", 0, "productId"], kind: { type: "uuid" } },
        { path: ["items", 0, "quantity"], kind: { type: "int", min: 1, max: 1000 } }, { path: ["items", 0, "unitPrice"], kind: { type: "money" }, optional: true },
        ...addressFields("shippingAddress"), ...addressFields("billingAddress", true),
      ],
      strict: [[], ["items", 0], ["shippingAddress"], ["billingAddress"]],
    },
    {
      method: "POST", path: `/orders/${f.orderId}/cancel`,
      body: { reason: "changed my mind" },
      fields: [{ path: ["reason"], kind: { type: "text", max: 500 } }],
      strict: [[]],
    },
    {
      method: "POST", path: `/orders/${f.orderId}/payments`,
      body: { paymentId: "pay-hostile-1", amount: 12.5, status: "succeeded" },
      fields: [
        { path: ["paymentId"], kind: ident(255) }, { path: ["amount"], kind: { type: "money", positive: true } },
        { path: ["status"], kind: { type: "enum", values: ["succeeded", "failed"] } },
      ],
      strict: [[]],
    },
    {
      method: "POST", path: "/events", headers: admin,
      body: {
        eventType: "user.created", payload: { userId: "u-hostile", email: "u@example.com", role: "buyer" },
        aggregateId: "agg-1", tenantId: "hostile-shop", idempotencyKey: "evt-hostile-1",
      },
      fields: [
        { path: ["eventType"], kind: { type: "enum", values: EVENT_TYPES } }, { path: ["payload"], kind: whole },
        { path: ["payload", "userId"], kind: ident(255) }, { path: ["payload", "email"], kind: { type: "email" } },
        { path: ["payload", "role"], kind: line(50) },
        { path: ["aggregateId"], kind: line(255), optional: true }, { path: ["tenantId"], kind: ident(), optional: true },
        { path: ["idempotencyKey"], kind: line(255), optional: true },
      ],
      strict: [[]],
    },
    {
      method: "POST", path: "/dlq/retry", headers: admin,
      body: { eventType: "user.created", handler: "mailer", ids: [f.deadLetterId], dryRun: false },
      fields: [
        { path: ["eventType"], kind: line(200), optional: true }, { path: ["handler"], kind: line(200), optional: true },
        { path: ["ids"], kind: whole, optional: true }, { path: ["ids", 0], kind: { type: "uuid" } },
        { path: ["dryRun"], kind: { type: "bool" }, optional: true },
      ],
      strict: [[]],
    },
  ];
}

const UUID = "6f1c1c3e-8a5e-4f7b-9d1e-2b8c0f1a9e11";
/** Path segments that are not an id (as sent: already percent-encoded where needed). */
export const BAD_IDS = [
  "not-a-uuid", "1", "0", "-1", "null", "undefined", "NaN", UUID.slice(0, -1), `${UUID}0`, UUID.replaceAll("-", ""),
  `%7B${UUID}%7D`, UUID.replace("6f", "gg"), "%00", `${UUID}%00`, "%E0%A4%A", "%ZZ", "%2e%2e", "..", "x".repeat(10_000),
  "%F0%9F%99%82", "'%20or%201=1--", "%20", `${UUID}%20`, `%20${UUID}`, "a%2Fb", "%ED%A0%80", `${UUID}%E2%80%AE`,
];

export function pathCases(f: Fixtures): HostileCase[] {
  const admin = { authorization: `Bearer ${f.adminToken}` };
  const json = { ...JSON_TYPE };
  const routes: [string, (id: string) => string, Record<string, string>, string?][] = [
    ["GET", (id) => `/products/${id}`, {}],
    ["GET", (id) => `/orders/${id}`, {}],
    ["POST", (id) => `/orders/${id}/cancel`, json, JSON.stringify({ reason: "hostile" })],
    ["POST", (id) => `/orders/${id}/payments`, json, JSON.stringify({ paymentId: "p1", amount: 1, status: "succeeded" })],
    ["GET", (id) => `/dlq/${id}`, admin],
    ["POST", (id) => `/dlq/${id}/retry`, admin],
    ["DELETE", (id) => `/dlq/${id}`, admin],
  ];
  const cases: HostileCase[] = [];
  for (const [method, path, headers, body] of routes) {
    for (const id of [...BAD_IDS, "00000000-0000-0000-0000-000000000000", UUID.toUpperCase()]) {
      cases.push({ name: `${method} ${path(":id")} id=${id.slice(0, 40)}`, method, path: path(id), headers, body, expect: [400, 404] });
    }
  }
  const tenantIds = ["a%20b", "%00", "-x", "_x", "x".repeat(101), "%E2%80%AEx", "a%0Ab", "%F0%9F%99%82", "'%3B", "%ZZ", "..", "a%2Fb", "x".repeat(10_000)];
  for (const id of tenantIds) cases.push({ name: `GET /tenants/:id/stats id=${id.slice(0, 40)}`, method: "GET", path: `/tenants/${id}/stats`, headers: {}, expect: [400, 404] });
  const providers = ["..", "ACME", "x".repeat(100), "%00", "a%20b", "%E0%A4%A"];
  const webhookIds = ["%00", "a%20b", "x".repeat(300), "%E0%A4%A", "%F0%9F%99%82", "msg%0Ax", f.webhookId.toUpperCase() + "x"];
  for (const p of providers) cases.push({ name: `GET /webhooks/:provider/:id provider=${p.slice(0, 40)}`, method: "GET", path: `/webhooks/${p}/${f.webhookId}`, headers: admin, expect: [400, 404] });
  for (const w of webhookIds) cases.push({ name: `GET /webhooks/acme/:id id=${w.slice(0, 40)}`, method: "GET", path: `/webhooks/acme/${w}`, headers: admin, expect: [400, 404] });
  return cases;
}

const cursorOf = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

export function queryCases(f: Fixtures): HostileCase[] {
  const queries = [
    "limit=0", "limit=-1", "limit=1e9", "limit=abc", "limit=1.5", "limit=", "limit=Infinity", "limit=NaN", "limit=501",
    "limit=1&limit=2", "limit=%00", "limit=9".padEnd(400, "9"), "cursor=", "cursor=junk!", "cursor=%00", `cursor=${"A".repeat(10_000)}`,
    "cursor=aGVsbG8", `cursor=${cursorOf(["2024-02-30T00:00:00.000000Z", UUID])}`, `cursor=${cursorOf(["0000-01-01T00:00:00.000000Z", UUID])}`,
    `cursor=${cursorOf(["2024-01-01T25:00:00.000000Z", UUID])}`, `cursor=${cursorOf(["2024-13-01T00:00:00.000000Z", UUID])}`,
    `cursor=${cursorOf(["2024-01-01T00:00:00.000000Z", "not-a-uuid"])}`, `cursor=${cursorOf(["x", "y"])}`, `cursor=${cursorOf([1, 2])}`,
    `cursor=${cursorOf({ a: 1 })}`, `cursor=${cursorOf(null)}`, "cursor=a&cursor=b", "foo=1", "eventType=", "eventType=%00", "handler=a%00b",
    `handler=${"h".repeat(201)}`, "eventType=%E2%80%AEx", "handler=a%0Ab", "eventType=a&eventType=b", "handler=%20",
  ];
  const admin = { authorization: `Bearer ${f.adminToken}` };
  return queries.map((q) => ({ name: `GET /dlq?${q.slice(0, 60)}`, method: "GET", path: `/dlq?${q}`, headers: admin, expect: [400] }));
}

/** Authorization values that are not the admin token. */
export function badTokens(token: string): [string, Record<string, string>][] {
  return [
    ["missing", {}],
    ["empty", { authorization: "" }],
    ["scheme only", { authorization: "Bearer" }],
    ["scheme and space", { authorization: "Bearer " }],
    ["wrong", { authorization: "Bearer wrong-admin-token-000000" }],
    ["basic", { authorization: `Basic ${Buffer.from(`admin:${token}`).toString("base64")}` }],
    ["no scheme", { authorization: token }],
    ["other scheme", { authorization: `Token ${token}` }],
    ["one extra character", { authorization: `Bearer ${token}x` }],
    ["one character short", { authorization: `Bearer ${token.slice(0, -1)}` }],
    ["upper-cased", { authorization: `Bearer ${token.toUpperCase()}` }],
    ["twice", { authorization: `Bearer ${token} ${token}` }],
    ["quoted", { authorization: `Bearer "${token}"` }],
    ["with a comma", { authorization: `Bearer ${token},` }],
    ["tab separated", { authorization: `Bearer\t${token}` }],
    ["colon separated", { authorization: `Bearer:${token}` }],
    ["very long", { authorization: `Bearer ${"a".repeat(10_000)}` }],
    ["latin-1", { authorization: `Bearer ${token}\u00e9` }],
    ["in another header", { "x-admin-token": token, "x-api-key": token }],
  ];
}

export function adminCases(f: Fixtures): HostileCase[] {
  const json = { ...JSON_TYPE };
  const requests: [string, string, string?][] = [
    ["POST", "/events", JSON.stringify({ eventType: "user.created", payload: { userId: "u1", email: "u@example.com", role: "buyer" } })],
    ["GET", `/webhooks/acme/${f.webhookId}`],
    ["GET", "/dlq"],
    ["GET", `/dlq/${f.deadLetterId}`],
    ["POST", `/dlq/${f.deadLetterId}/retry`],
    ["POST", "/dlq/retry", JSON.stringify({})],
    ["DELETE", `/dlq/${f.deadLetterId}`],
  ];
  return requests.flatMap(([method, path, body]) =>
    badTokens(f.adminToken).map(([what, auth]) => ({
      name: `${method} ${path} admin token ${what}`, method, path, body, headers: { ...(body ? json : {}), ...auth }, expect: [401],
    })),
  );
}

export function headerCases(f: Fixtures): HostileCase[] {
  const body = JSON.stringify(jsonEndpoints(f)[1]!.body);
  const keys: [string, string, boolean?][] = [
    ["256 chars", "k".repeat(256)], ["10k chars", "k".repeat(10_000)], ["1M chars", "k".repeat(1_000_000), true], ["empty", ""],
    ["spaces", "a b"], ["latin-1", "cl\u00e9"], ["tab", "a\tb"], ["DEL", "a\u007f"],
  ];
  const cases: HostileCase[] = keys.map(([what, key, inProcessOnly]) => ({
    name: `POST /orders Idempotency-Key ${what}`, method: "POST", path: "/orders", headers: { ...JSON_TYPE, "idempotency-key": key }, body, expect: [400], inProcessOnly,
  }));
  for (const rid of ["x".repeat(1000), "a b", "<script>", "caf\u00e9", "../../etc/passwd"]) {
    cases.push({ name: `GET /products/not-a-uuid X-Request-Id ${rid.slice(0, 20)}`, method: "GET", path: "/products/not-a-uuid", headers: { "x-request-id": rid }, expect: [400] });
  }
  for (const [method, path] of [["PUT", "/products"], ["PATCH", `/orders/${f.orderId}`], ["DELETE", `/products/${f.productId}`], ["OPTIONS", "/orders"], ["GET", "/nowhere"], ["POST", "/health/live"], ["GET", "/dlq/retry"], ["POST", "/products/"],
    ["POST", "/metrics"], ["DELETE", "/health"], ["GET", "/health/nope"], ["GET", "/metrics/x"], ["PUT", "/health/live"], ["GET", "/health/%2e%2e/dlq"]]) {
    cases.push({ name: `${method} ${path} (no such route)`, method: method!, path: path!, headers: {}, expect: [400, 401, 404, 405] });
  }
  return cases;
}

/** POST /events keeps fields its schema does not name, but only what jsonb can hold as sent. */
export function openPayloadCases(f: Fixtures): HostileCase[] {
  const headers = { ...JSON_TYPE, authorization: `Bearer ${f.adminToken}` };
  const event = (extra: string) => `{"eventType":"user.created","payload":{"userId":"u1","email":"u@example.com","role":"buyer",${extra}}}`;
  return ([
    ["a number JSON.parse makes Infinity", '"big":1e400'], ["a number JSON.parse makes -Infinity", '"small":-1e400'],
    ["a NUL in a string", '"note":"a\\u0000b"'], ["a NUL in a key", '"a\\u0000b":1'], ["a lone surrogate", '"note":"\\ud800"'],
    ["a lone surrogate in a key", '"\\udc00":1'], ["nesting 40 deep", `"deep":${"[".repeat(40)}${"]".repeat(40)}`],
    ["nesting 1000 deep", `"deep":${'{"a":'.repeat(1000)}1${"}".repeat(1000)}`], ["1e400 nested in an array", '"list":[1,[2,[1e400]]]'],
  ] as const).map(([what, extra]) => ({ name: `POST /events payload with ${what}`, method: "POST", path: "/events", headers, body: event(extra), expect: [400] }));
}

/** Every non-webhook hostile request. */
export function apiCases(f: Fixtures, seed = SEED): HostileCase[] {
  return [
    ...jsonEndpoints(f).flatMap((ep, i) => jsonEndpointCases(ep, seed + i)), ...openPayloadCases(f),
    ...pathCases(f), ...queryCases(f), ...adminCases(f), ...headerCases(f),
  ];
}
