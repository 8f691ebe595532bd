import fc from "fast-check";
import { outOfBounds, resolve, valid, wrongType, type Pools, type Schema } from "./arbitraries.ts";

// Requests generated from the document: valid ones (as the document describes them) and invalid
// ones (a valid request with one thing broken: credentials, a body field, a parameter, the body's
// encoding). Nothing here is specific to one route beyond which known ids a parameter may take.

interface Param { name: string; in: "path" | "query" | "header"; required?: boolean; schema: Schema }

export interface Operation {
  method: string;
  template: string;
  id: string;
  params: Param[];
  body?: { schema: Schema; required: boolean };
  /** Alternatives, each a list of scheme names ([] = none needed). */
  security: string[][];
}

export interface Req {
  method: string;
  path: string;
  query: [string, string][];
  headers: Record<string, string>;
  /** A JSON body, or `raw` for a body sent as is. */
  json?: unknown;
  raw?: string;
  /** Sign the body as a Standard Webhooks delivery when sending. */
  sign?: boolean;
  /** The delivery id to sign with (default: a fresh one). */
  webhookId?: string;
  /** What was broken, for invalid requests. */
  broken?: string;
}

export interface Credentials { adminToken: string; tenantKey: string }

export function operationsOf(doc: any): Operation[] {
  const ops: Operation[] = [];
  for (const [template, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
    for (const [method, op] of Object.entries(item)) {
      const content = op.requestBody?.content?.["application/json"];
      ops.push({
        method: method.toUpperCase(), template, id: op.operationId, params: op.parameters ?? [],
        ...(content ? { body: { schema: content.schema, required: op.requestBody.required === true } } : {}),
        security: (op.security ?? doc.security ?? []).map((s: object) => Object.keys(s)),
      });
    }
  }
  return ops;
}

/** Which pool of known values a path parameter draws from. */
function poolOf(template: string, name: string): string {
  if (name === "id") {
    const group = template.split("/")[1];
    return { products: "productId", orders: "orderId", events: "eventId", dlq: "deadLetterId", "api-keys": "apiKeyId" }[group!] ?? name;
  }
  if (name === "name") return template.startsWith("/schedules") ? "scheduleName" : "handlerName";
  return name;
}

// A dot segment would be normalised away by any HTTP client before it reaches a route.
const segment = (v: unknown) => (String(v) === "." || String(v) === ".." ? "dot" : encodeURIComponent(String(v)));

const needs = (op: Operation, scheme: string) => op.security.length > 0 && op.security.every((alt) => alt.length > 0) && op.security.some((alt) => alt.includes(scheme));

function authFor(op: Operation, creds: Credentials): fc.Arbitrary<Record<string, string>> {
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  if (needs(op, "apiKey")) return fc.constantFrom(bearer(creds.tenantKey), bearer(creds.tenantKey), bearer(creds.adminToken));
  if (needs(op, "adminToken")) return fc.constant(bearer(creds.adminToken));
  // Open operations: with or without the admin token (health shows more with it).
  if (op.security.some((alt) => alt.includes("adminToken"))) return fc.constantFrom({}, bearer(creds.adminToken));
  return fc.constant({});
}

export function validRequest(doc: unknown, op: Operation, pools: Pools, creds: Credentials): fc.Arbitrary<Req> {
  const path = op.params.filter((p) => p.in === "path").map((p) => valid(doc, p.schema, pools, poolOf(op.template, p.name)).map((v) => [p.name, v] as const));
  const optional = <T>(p: Param, arb: fc.Arbitrary<T>) => (p.required ? arb.map((v) => [v]) : fc.option(arb, { nil: undefined }).map((v) => (v === undefined ? [] : [v])));
  const query = op.params.filter((p) => p.in === "query").map((p) => optional(p, valid(doc, p.schema, pools, p.name).map((v) => [p.name, String(v)] as [string, string])));
  const headers = op.params.filter((p) => p.in === "header" && !p.name.startsWith("webhook-")).map((p) => optional(p, valid(doc, p.schema, pools, p.name).map((v) => [p.name, String(v)] as [string, string])));
  const body = op.body
    ? op.body.required ? valid(doc, op.body.schema, pools).map((v) => [v]) : fc.option(valid(doc, op.body.schema, pools), { nil: undefined }).map((v) => (v === undefined ? [] : [v]))
    : fc.constant([]);
  return fc.record({
    path: fc.tuple(...path), query: fc.tuple(...query), headers: fc.tuple(...headers), body, auth: authFor(op, creds),
  }).map(({ path, query, headers, body, auth }) => {
    let url = op.template;
    for (const [name, value] of path) url = url.replace(`{${name}}`, segment(value));
    return {
      method: op.method, path: url, query: query.flat(), headers: { ...Object.fromEntries(headers.flat()), ...auth },
      ...(body.length ? { json: body[0] } : {}),
      ...(needs(op, "webhookSignature") ? { sign: true } : {}),
    };
  });
}

type Mutation = (req: Req) => fc.Arbitrary<Req>;

const WRONG_TOKEN = "wrong-token-0123456789abcdef";

/** Every way to break a valid request of `op`, each named. */
function mutationsOf(doc: unknown, op: Operation): [string, Mutation][] {
  const out: [string, Mutation][] = [];
  const secured = op.security.length > 0 && op.security.every((alt) => alt.length > 0);
  if (secured && !needs(op, "webhookSignature")) {
    out.push(["no credentials", (r) => fc.constant({ ...r, headers: omit(r.headers, "authorization") })]);
    out.push(["a wrong bearer token", (r) => fc.constant({ ...r, headers: { ...r.headers, authorization: `Bearer ${WRONG_TOKEN}` } })]);
  }
  if (needs(op, "webhookSignature")) out.push(["a wrong signature", (r) => fc.constant({ ...r, sign: false, headers: { ...r.headers, "webhook-id": "msg_1", "webhook-timestamp": String(Math.floor(Date.now() / 1000)), "webhook-signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" } })]);
  for (const p of op.params) {
    const bad = outOfBounds(doc, p.schema);
    if (!bad.length) continue;
    const put = (r: Req, v: unknown): Req => p.in === "path"
      ? { ...r, path: replaceSegment(op.template, r.path, p.name, segment(v)) }
      : p.in === "query" ? { ...r, query: [...r.query.filter(([k]) => k !== p.name), [p.name, String(v)]] } : { ...r, headers: { ...r.headers, [p.name]: String(v) } };
    out.push([`${p.in} ${p.name} out of bounds`, (r) => fc.constantFrom(...bad).map((v) => put(r, v))]);
  }
  for (const p of op.params.filter((p) => p.in === "path")) {
    // Raw, as a client may send them: a NUL (PostgreSQL refuses it in text) and broken percent-encoding.
    out.push([`path ${p.name} with a NUL or broken escape`, (r) => fc.constantFrom("a%00b", "%E0%A4%A", "%", "..%2f..%2f").map((v) => ({ ...r, path: replaceSegment(op.template, r.path, p.name, v) }))]);
  }
  const query = op.params.filter((p) => p.in === "query");
  if (query.length) {
    out.push(["an unknown query parameter", (r) => fc.constant({ ...r, query: [...r.query, ["unknownParam", "1"]] })]);
    out.push(["a repeated query parameter", (r) => fc.constantFrom(...query).map((p) => ({ ...r, query: [...r.query.filter(([k]) => k !== p.name), [p.name, "1"], [p.name, "2"]] as [string, string][] }))]);
  }
  const body = op.body && resolve(doc, op.body.schema);
  if (op.body && body) {
    out.push(["malformed JSON", (r) => fc.constant({ ...withoutBody(r), raw: '{"broken": ', headers: { ...r.headers, "content-type": "application/json" } })]);
    out.push(["a body that is not JSON by its type", (r) => fc.constant({ ...withoutBody(r), raw: "a=1&b=2", headers: { ...r.headers, "content-type": "text/plain" } })]);
    out.push(["a body that is not an object", (r) => fc.constantFrom([], 42, "text", null).map((v) => ({ ...r, json: v }))]);
    for (const key of body.required ?? []) out.push([`body without ${key}`, (r) => fc.constant({ ...r, json: omit(asObject(r.json), key) })]);
    if (body.additionalProperties === false) {
      out.push(["an unknown body field", (r) => fc.constant({ ...r, json: { ...asObject(r.json), unknownField: 1 } })]);
      out.push(["a __proto__ body field", (r) => fc.constant({ ...r, raw: `${JSON.stringify(asObject(r.json)).slice(0, -1)}${Object.keys(asObject(r.json)).length ? "," : ""}"__proto__":{"admin":true}}`, headers: { ...r.headers, "content-type": "application/json" } })]);
    }
    for (const [key, prop] of Object.entries(body.properties ?? {})) {
      const wrong = wrongType(doc, prop);
      if (wrong.length) out.push([`body ${key} of the wrong type`, (r) => fc.constantFrom(...wrong).map((v) => ({ ...r, json: { ...asObject(r.json), [key]: v } }))]);
      const bad = outOfBounds(doc, prop);
      if (bad.length) out.push([`body ${key} out of bounds`, (r) => fc.constantFrom(...bad).map((v) => ({ ...r, json: { ...asObject(r.json), [key]: v } }))]);
    }
  }
  return out;
}

export function invalidRequest(doc: unknown, op: Operation, pools: Pools, creds: Credentials): fc.Arbitrary<Req> | null {
  const mutations = mutationsOf(doc, op);
  if (!mutations.length) return null;
  return fc.tuple(validRequest(doc, op, pools, creds), fc.constantFrom(...mutations))
    .chain(([req, [name, mutate]]) => mutate(req).map((r) => ({ ...r, broken: name })));
}

function replaceSegment(template: string, path: string, name: string, value: string): string {
  const index = template.split("/").indexOf(`{${name}}`);
  const parts = path.split("/");
  parts[index] = value;
  return parts.join("/");
}

const omit = <T extends Record<string, unknown>>(o: T, key: string) => Object.fromEntries(Object.entries(o).filter(([k]) => k !== key)) as T;
const asObject = (v: unknown): Record<string, unknown> => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const withoutBody = ({ json: _, ...r }: Req): Req => r;
