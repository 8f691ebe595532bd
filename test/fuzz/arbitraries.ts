import fc from "fast-check";

// fast-check arbitraries derived from the OpenAPI document's JSON Schemas: values the document
// calls valid, biased towards values the service can act on (known ids, readable text), and
// single mutations that make a valid value invalid.

export type Schema = {
  $ref?: string; type?: string | string[]; properties?: Record<string, Schema>; required?: string[];
  additionalProperties?: boolean | Schema; items?: Schema; minItems?: number; maxItems?: number;
  minLength?: number; maxLength?: number; pattern?: string; format?: string; enum?: unknown[]; const?: unknown;
  minimum?: number; maximum?: number; exclusiveMinimum?: number; exclusiveMaximum?: number;
  anyOf?: Schema[]; oneOf?: Schema[]; allOf?: Schema[]; default?: unknown; description?: string;
};

/** Values a field of this name should often take (ids that exist, the fuzz tenant). */
export type Pools = Record<string, readonly unknown[]>;

const READABLE = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.".split(""));
const ODD = fc.constantFrom("é", "ß", "中", "🙂", "\t", "\u200b", "\u202e", "'", "\"", "\\", "<", "%", "\u0000", "\n");

function text(min: number, max: number): fc.Arbitrary<string> {
  const cap = Math.min(max, min + 40);
  const char = fc.oneof({ weight: 9, arbitrary: READABLE }, { weight: 1, arbitrary: ODD });
  return fc.oneof(
    { weight: 8, arbitrary: fc.array(char, { minLength: min, maxLength: cap }).map((cs) => cs.join("")) },
    { weight: 1, arbitrary: fc.constant("x".repeat(max)) },
  ).filter((s) => s.length >= min && s.length <= max);
}

const EMAILS = fc.tuple(fc.stringMatching(/^[a-z][a-z0-9]{0,10}$/), fc.constantFrom("example.com", "mail.example.org", "shop.test")).map(([u, d]) => `${u}@${d}`);

export function resolve(doc: unknown, schema: Schema): Schema {
  let s = schema;
  while (s.$ref) {
    const path = s.$ref.replace(/^#\//, "").split("/").map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"));
    s = path.reduce((node: any, key) => node[key], doc) as Schema;
  }
  return s;
}

/** An arbitrary of values `schema` accepts; `name` picks a pool of known values when there is one. */
export function valid(doc: unknown, schema: Schema, pools: Pools, name = ""): fc.Arbitrary<unknown> {
  const s = resolve(doc, schema);
  const pool = pools[name];
  const own = fromSchema(doc, s, pools);
  return pool?.length ? fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...pool) }, { weight: 1, arbitrary: own }) : own;
}

function fromSchema(doc: unknown, s: Schema, pools: Pools): fc.Arbitrary<unknown> {
  if (s.const !== undefined) return fc.constant(s.const);
  if (s.enum) return fc.constantFrom(...s.enum);
  const alternatives = s.anyOf ?? s.oneOf;
  if (alternatives) return fc.oneof(...alternatives.map((a) => valid(doc, a, pools)));
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== "null") : s.type;
  switch (type) {
    case "string": return stringArb(s);
    case "integer": {
      const min = s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : -1_000_000);
      const max = s.maximum ?? (s.exclusiveMaximum !== undefined ? s.exclusiveMaximum - 1 : 1_000_000);
      return fc.oneof(fc.integer({ min, max: Math.min(max, min + 100) }), fc.integer({ min, max }));
    }
    case "number": {
      // Money: whole cents, so the "at most two decimals" rule holds.
      const min = Math.ceil((s.minimum ?? 0) * 100);
      const max = Math.floor((s.maximum ?? 1_000_000) * 100);
      return fc.oneof(fc.integer({ min, max: Math.min(max, min + 10_000) }), fc.integer({ min, max })).map((c) => c / 100);
    }
    case "boolean": return fc.boolean();
    case "array": {
      const minLength = s.minItems ?? 0;
      return fc.array(valid(doc, s.items ?? {}, pools), { minLength, maxLength: Math.min(s.maxItems ?? 5, minLength + 3) });
    }
    case "object": return objectArb(doc, s, pools);
    default: return anyJson();
  }
}

function stringArb(s: Schema): fc.Arbitrary<string> {
  if (s.format === "uuid") return fc.uuid();
  if (s.format === "email") return EMAILS;
  if (s.format === "date-time") return fc.date({ min: new Date(Date.now() - 86_400_000), max: new Date(Date.now() + 20 * 86_400_000), noInvalidDate: true }).map((d) => d.toISOString());
  const min = s.minLength ?? 0;
  const max = s.maxLength ?? 60;
  if (s.pattern) {
    const re = new RegExp(s.pattern);
    return fc.stringMatching(re).filter((v) => v.length >= min && v.length <= max).map((v) => v.slice(0, max));
  }
  return text(min, max);
}

function objectArb(doc: unknown, s: Schema, pools: Pools): fc.Arbitrary<Record<string, unknown>> {
  const props = s.properties ?? {};
  if (Object.keys(props).length === 0) {
    return fc.dictionary(fc.stringMatching(/^[a-z][a-zA-Z]{0,8}$/), anyJson(), { maxKeys: 4 });
  }
  const record: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [key, prop] of Object.entries(props)) record[key] = valid(doc, prop, pools, key);
  return fc.record(record, { requiredKeys: (s.required ?? []) as never[] }) as fc.Arbitrary<Record<string, unknown>>;
}

const anyJson = () => fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<unknown>;

/** A value of another JSON type than `schema` has. */
export function wrongType(doc: unknown, schema: Schema): unknown[] {
  const s = resolve(doc, schema);
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  const others: unknown[] = [[1, 2], { nested: true }, 42.5, "text", true, null].filter((v) => {
    if (type === "string") return typeof v !== "string";
    if (type === "number" || type === "integer") return typeof v !== "number";
    if (type === "boolean") return typeof v !== "boolean";
    if (type === "array") return !Array.isArray(v);
    if (type === "object") return v === null || typeof v !== "object" || Array.isArray(v);
    return false;
  });
  return others;
}

/** A value that breaks one constraint of `schema` (length, range, pattern, format, enum), if it has one. */
export function outOfBounds(doc: unknown, schema: Schema): unknown[] {
  const s = resolve(doc, schema);
  const out: unknown[] = [];
  if (s.enum) out.push("not-one-of-them");
  if (s.maxLength !== undefined) out.push("y".repeat(s.maxLength + 1));
  if (s.minLength !== undefined && s.minLength > 0) out.push("");
  if (s.pattern) out.push(" bad value!");
  if (s.format === "uuid") out.push("not-a-uuid");
  if (s.format === "email") out.push("not an email");
  if (s.format === "date-time") out.push("yesterday");
  if (s.maximum !== undefined) out.push(s.type === "integer" ? s.maximum + 1 : s.maximum + 1.5);
  if (s.minimum !== undefined) out.push(s.type === "integer" ? s.minimum - 1 : s.minimum - 1.5);
  if (s.type === "integer") out.push(1.5);
  if (s.minItems !== undefined && s.minItems > 0) out.push([]);
  if (s.maxItems !== undefined) out.push(Array.from({ length: s.maxItems + 1 }, () => ({})));
  return out;
}
