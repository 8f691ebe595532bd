// The hostile values the generator puts into fields, and a small, independent statement of what
// each kind of field accepts, so a mutation the API must refuse is told from one it may take.
import { COUNTRY_CODES } from "../../src/lib/countries.ts";

/** Seed of every random choice; set HOSTILE_SEED to reproduce a failing run. */
export const SEED = Number(process.env.HOSTILE_SEED ?? 20_240_611);

/** mulberry32: small, fast, deterministic. */
export function seeded(seed = SEED) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return {
    next,
    int: (max: number) => Math.floor(next() * max),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
  };
}

/** A value written into the body as raw JSON text: what JSON.stringify cannot produce. */
export class Raw {
  constructor(readonly text: string, readonly parsed: unknown) {}
}

export interface Hostile {
  label: string;
  value: unknown;
}

const nested = (depth: number) => new Raw("[".repeat(depth) + "]".repeat(depth), "deep");
const deepObject = (depth: number) => new Raw('{"a":'.repeat(depth) + "1" + "}".repeat(depth), "deep");

/** Every wrong-typed, out-of-range or malicious value a field is replaced with. */
export const HOSTILE: Hostile[] = [
  { label: "null", value: null },
  { label: "true", value: true },
  { label: "false", value: false },
  { label: "0", value: 0 },
  { label: "-1", value: -1 },
  { label: "-0", value: new Raw("-0", -0) },
  { label: "1.5", value: 1.5 },
  { label: "1e-7", value: 1e-7 },
  { label: "1e308", value: 1e308 },
  { label: "-1e308", value: -1e308 },
  { label: "2^53+1", value: new Raw("9007199254740993", 9007199254740992) },
  { label: "2^31", value: 2_147_483_648 },
  { label: "1e400", value: new Raw("1e400", Infinity) },
  { label: "-1e400", value: new Raw("-1e400", -Infinity) },
  { label: "empty string", value: "" },
  { label: "space", value: " " },
  { label: "tab", value: "\t" },
  { label: "10k chars", value: "x".repeat(10_000) },
  { label: "100k chars", value: "y".repeat(100_000) },
  { label: "NUL", value: "a\u0000b" },
  { label: "bell", value: "a\u0007b" },
  { label: "escape", value: "\u001b[31mred" },
  { label: "DEL", value: "a\u007fb" },
  { label: "newline", value: "a\nb" },
  { label: "lone high surrogate", value: "\uD800" },
  { label: "lone low surrogate", value: "x\uDC00" },
  { label: "RTL override", value: "abc\u202Efdp.exe" },
  { label: "isolate", value: "x\u2066y\u2069" },
  { label: "emoji", value: "🙂🚀" },
  { label: "sql", value: "'; drop table orders; --" },
  { label: "html", value: "<script>alert(1)</script>" },
  { label: "number as string", value: "10" },
  { label: "exponent as string", value: "1e3" },
  { label: "NaN as string", value: "NaN" },
  { label: "negative as string", value: "-1" },
  { label: "bool as string", value: "true" },
  { label: "empty array", value: [] },
  { label: "array", value: [1, "a"] },
  { label: "empty object", value: {} },
  { label: "object", value: { a: 1 } },
  { label: "proto object", value: new Raw('{"__proto__":{"admin":true}}', "proto") },
  { label: "1000-deep array", value: nested(1000) },
  { label: "1000-deep object", value: deepObject(1000) },
];

export type Kind =
  | { type: "uuid" }
  | { type: "identifier"; max: number }
  | { type: "line"; max: number }
  | { type: "text"; max: number }
  | { type: "email" }
  | { type: "money"; positive?: boolean }
  | { type: "int"; min: number; max: number }
  | { type: "country" }
  | { type: "enum"; values: readonly string[] }
  | { type: "bool" }
  /** Objects, arrays and free JSON whose contents the generator mutates itself: no hostile value is a valid one. */
  | { type: "whole" };

const MAX_MONEY = 9_999_999_999.99;
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;
const CONTROL_OR_NEWLINE = /[\u0000-\u001F\u007F]/;
const LONE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// Trojan Source (CVE-2021-42574): embeddings, overrides and isolates reorder what a reader sees.
const BIDI = /[\u202A-\u202E\u2066-\u2069]/;

/** Whether a field of `kind` accepts `value` (as JSON.parse gives it); the API must refuse what this refuses. */
export function accepts(kind: Kind, value: unknown): boolean {
  const v = value instanceof Raw ? value.parsed : value;
  const str = typeof v === "string" ? v : null;
  switch (kind.type) {
    case "uuid":
      return str !== null && /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i.test(str);
    case "identifier":
      return str !== null && str.length <= kind.max && /^[A-Za-z0-9][A-Za-z0-9_.:@-]*$/.test(str);
    case "line":
    case "text": {
      if (str === null || LONE.test(str) || BIDI.test(str)) return false;
      const t = str.trim();
      return t.length >= 1 && t.length <= kind.max && !(kind.type === "line" ? CONTROL_OR_NEWLINE : CONTROL).test(t);
    }
    case "email":
      return str !== null && str.length <= 254 && /^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/.test(str);
    case "money":
      return typeof v === "number" && Number.isFinite(v) && v >= 0 && v <= MAX_MONEY && Math.abs(v * 100 - Math.round(v * 100)) < 1e-6 && (!kind.positive || v > 0);
    case "int":
      return typeof v === "number" && Number.isInteger(v) && v >= kind.min && v <= kind.max;
    case "country":
      return str !== null && COUNTRY_CODES.has(str);
    case "enum":
      return str !== null && kind.values.includes(str);
    case "bool":
      return typeof v === "boolean";
    case "whole":
      return false;
  }
}

/**
 * JSON text of `body`, with each Raw value written as its raw text (so `1e400`, `-0` and deep
 * nesting reach the server exactly as a hostile client would send them).
 */
export function encodeJson(body: unknown): string {
  const raws: string[] = [];
  const text = JSON.stringify(body, (_key, value) => {
    if (value instanceof Raw) {
      raws.push(value.text);
      return `\u0001RAW${raws.length - 1}\u0001`;
    }
    return value;
  });
  return text.replace(/"\\u0001RAW(\d+)\\u0001"/g, (_m, i: string) => raws[Number(i)]!);
}
