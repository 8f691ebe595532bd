// What one hostile request is, and the mutations every JSON endpoint gets: each field removed or
// replaced by every value it must refuse, unknown and duplicate keys, broken JSON, wrong
// Content-Types, wrong root types, deep nesting and bodies over the limit.
import { accepts, encodeJson, HOSTILE, seeded, type Kind } from "./values.ts";

export interface HostileCase {
  /** Says what was changed, e.g. `POST /products price=1e400`; with the seed it reproduces the case. */
  name: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  /** Text, raw bytes, or a stream factory for a chunked body without Content-Length. */
  body?: string | Uint8Array | (() => ReadableStream<Uint8Array>);
  /** The statuses that are right for it. */
  expect: number[];
  /**
   * Sent through app.request() only: headers too large for a real HTTP server's limits, or a body
   * declared beyond Bun.serve's maxRequestBodySize, which the runtime refuses itself (see
   * hostile-process.test.ts).
   */
  inProcessOnly?: boolean;
}

export type Path = (string | number)[];

export interface Field {
  path: Path;
  kind: Kind;
  optional?: boolean;
}

export interface JsonEndpoint {
  method: string;
  path: string;
  /** Headers of the valid request (admin token, Idempotency-Key). */
  headers?: Record<string, string>;
  /** A valid body, which the endpoint would accept. */
  body: Record<string, unknown>;
  fields: Field[];
  /** Objects that refuse unknown fields ([] is the root). */
  strict: Path[];
}

export const JSON_TYPE = { "content-type": "application/json" };
export const LIMIT = 1024 * 1024;

const clone = <T>(v: T): T => structuredClone(v);

function at(root: unknown, path: Path): Record<string | number, unknown> {
  let node = root as Record<string | number, unknown>;
  for (const key of path) node = node[key] as Record<string | number, unknown>;
  return node;
}

function withField(body: unknown, path: Path, value: unknown | typeof REMOVE): unknown {
  const copy = clone(body);
  const parent = at(copy, path.slice(0, -1));
  const key = path[path.length - 1]!;
  if (value === REMOVE) delete parent[key];
  else parent[key] = value;
  return copy;
}
const REMOVE = Symbol("remove");

function withKey(body: unknown, objectPath: Path, key: string, value: unknown): unknown {
  const copy = clone(body);
  // defineProperty: `__proto__` must become an own key, as JSON.parse makes it.
  Object.defineProperty(at(copy, objectPath), key, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

const show = (p: Path) => p.join(".") || "(root)";

/** Malformed variants of a valid JSON text (not a leading BOM: RFC 8259 lets a parser ignore it). */
export function brokenJson(valid: string, rand: ReturnType<typeof seeded>): [string, string | Uint8Array][] {
  const cut = 1 + rand.int(valid.length - 2);
  return [
    ["truncated at a seeded offset", valid.slice(0, cut)],
    ["truncated by one byte", valid.slice(0, -1)],
    ["trailing garbage", `${valid}x`],
    ["two documents", `${valid}${valid}`],
    ["trailing comma", valid.replace(/}$/, ",}")],
    ["NaN literal", valid.replace(/^{/, '{"n": NaN,')],
    ["Infinity literal", valid.replace(/^{/, '{"n": Infinity,')],
    ["-Infinity literal", valid.replace(/^{/, '{"n": -Infinity,')],
    ["undefined literal", valid.replace(/^{/, '{"n": undefined,')],
    ["single quotes", valid.replaceAll('"', "'")],
    ["unquoted keys", valid.replace(/"(\w+)":/g, "$1:")],
    ["line comment", `// hi\n${valid}`],
    ["block comment", valid.replace(/^{/, "{/* c */")],
    ["hex number", valid.replace(/^{/, '{"n": 0x10,')],
    ["leading zero", valid.replace(/^{/, '{"n": 012,')],
    ["plus sign", valid.replace(/^{/, '{"n": +1,')],
    ["raw control character in a string", valid.replace(/^{/, '{"n": "a\u0001b",')],
    ["bad escape", valid.replace(/^{/, '{"n": "\\x41",')],
    ["short unicode escape", valid.replace(/^{/, '{"n": "\\u12",')],
    ["unterminated string", '{"n": "abc'],
    ["a lone brace", "}"],
    ["only whitespace", "  \n\t "],
    ["NUL byte", "\u0000"],
    ["invalid UTF-8 bytes", Buffer.concat([Buffer.from('{"n": "'), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from(`",${valid.slice(1)}`)])],
    ["UTF-16 encoded", Buffer.from(valid, "utf16le")],
  ];
}

/** Every hostile request for one JSON endpoint. */
export function jsonEndpointCases(ep: JsonEndpoint, seed: number): HostileCase[] {
  const rand = seeded(seed);
  const base: Record<string, string> = { ...JSON_TYPE, ...ep.headers };
  const label = `${ep.method} ${ep.path}`;
  const cases: HostileCase[] = [];
  const add = (what: string, body: HostileCase["body"], headers = base, expect = [400], inProcessOnly = false) =>
    cases.push({ name: `${label} ${what}`, method: ep.method, path: ep.path, headers, body, expect, ...(inProcessOnly ? { inProcessOnly } : {}) });
  const refused = (kind: Kind) => HOSTILE.filter((h) => !accepts(kind, h.value));

  for (const f of ep.fields) {
    if (!f.optional) add(`without ${show(f.path)}`, encodeJson(withField(ep.body, f.path, REMOVE)));
    for (const h of refused(f.kind)) add(`${show(f.path)}=${h.label}`, encodeJson(withField(ep.body, f.path, h.value)));
  }
  const valid = encodeJson(ep.body);
  for (const f of ep.fields.filter((x) => x.path.length === 1)) {
    const bad = rand.pick(refused(f.kind));
    const dup = valid.replace(/}$/, `,${JSON.stringify(f.path[0])}:${encodeJson(bad.value)}}`);
    add(`duplicate key ${show(f.path)}, last=${bad.label}`, dup);
  }
  for (const obj of ep.strict) {
    for (const key of ["extra", "__proto__", "constructor", "", "k".repeat(1000), "💥"]) {
      add(`unknown key ${JSON.stringify(key.slice(0, 20))} in ${show(obj)}`, encodeJson(withKey(ep.body, obj, key, rand.pick(HOSTILE).value)));
    }
  }
  for (const [what, raw] of brokenJson(valid, rand)) add(`broken JSON: ${what}`, raw);
  for (const [what, raw] of [
    ["empty body", ""], ["null root", "null"], ["array root", `[${valid}]`], ["string root", JSON.stringify(valid)],
    ["number root", "42"], ["true root", "true"], ["1000-deep root", "[".repeat(1000) + "]".repeat(1000)],
    ["100k-deep root", "[".repeat(100_000) + "]".repeat(100_000)],
    ["100k-deep unclosed root", '{"a":'.repeat(100_000)],
  ] as const) add(what, raw);

  const noType = Object.fromEntries(Object.entries(base).filter(([k]) => k !== "content-type"));
  add("without Content-Type", valid, noType);
  for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx", "json", "application/xml", "*/*", "application/json\u00e9"]) {
    add(`Content-Type ${type}`, valid, { ...base, "content-type": type });
  }
  add("form-encoded body", "tenantId=a&price=1", { ...base, "content-type": "application/x-www-form-urlencoded" });

  const over = `{"pad":"${"p".repeat(LIMIT)}"}`;
  add("body of 1 MiB + 1 byte", valid.padEnd(LIMIT + 1, " "), base, [413]);
  add("body of 5 MiB with a valid prefix", over.repeat(5), base, [413], true);
  add("body of 1.5 MiB with a valid prefix", over + over.slice(0, LIMIT / 2), base, [413]);
  add("body over the limit sent as text/plain", over, { ...base, "content-type": "text/plain" }, [413]);
  add("chunked body over the limit", () => chunked(over, 64 * 1024), base, [413]);
  add("chunked body over the limit, one byte per early chunk", () => chunked(over, 64 * 1024, 100), base, [413]);
  add("chunked broken JSON under the limit", () => chunked(valid.slice(0, -1), 7), base);
  return cases;
}

/** A body sent in chunks of `size` bytes (the first `slowChunks` of 1 byte), without Content-Length. */
export function chunked(text: string, size: number, slowChunks = 0): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  let n = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      const step = n++ < slowChunks ? 1 : size;
      controller.enqueue(bytes.subarray(offset, offset + step));
      offset += step;
    },
  });
}
