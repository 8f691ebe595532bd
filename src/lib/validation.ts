import { z } from "zod";
import type { FieldProblem } from "./domain-errors.ts";

// PostgreSQL refuses NUL in text and jsonb, and a lone UTF-16 surrogate cannot be encoded: both
// must be a 400 naming the field, never a failed insert.
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;
const CONTROL_OR_NEWLINE = /[\u0000-\u001F\u007F]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// Bidi embeddings, overrides and isolates make text read differently from what it is (Trojan
// Source, CVE-2021-42574): a name shown in an e-mail or an admin screen must read as stored.
const BIDI_CONTROL = /[\u202A-\u202E\u2066-\u2069]/;

/** One line of text, trimmed: no control characters, no bidi overrides, no broken Unicode. */
export const line = (max: number, min = 1) =>
  z.string().trim().min(min).max(max)
    .refine((s) => !CONTROL_OR_NEWLINE.test(s), "must not contain control characters or line breaks")
    .refine((s) => !BIDI_CONTROL.test(s), "must not contain bidirectional override characters")
    .refine((s) => !LONE_SURROGATE.test(s), "must be valid Unicode");

/** Free text that may span lines (tabs and line breaks allowed, other control characters and bidi overrides not). */
export const text = (max: number, min = 1) =>
  z.string().trim().min(min).max(max)
    .refine((s) => !CONTROL.test(s), "must not contain control characters")
    .refine((s) => !BIDI_CONTROL.test(s), "must not contain bidirectional override characters")
    .refine((s) => !LONE_SURROGATE.test(s), "must be valid Unicode");

/** An identifier chosen by the caller (tenant, customer, SKU, payment): no spaces or symbols beyond _ . : - */
export const identifier = (max = 100) => z.string().min(1).max(max).regex(/^[A-Za-z0-9][A-Za-z0-9_.:@-]*$/, "letters, digits and _ . : @ - only, starting with a letter or digit");

/** The largest amount numeric(12,2) holds. */
export const MAX_MONEY = 9_999_999_999.99;

/** Money in major units: a finite number >= 0 with at most two decimals, stored as numeric(12,2). */
export const money = z
  .number()
  .min(0)
  .max(MAX_MONEY)
  .refine((v) => Math.abs(v * 100 - Math.round(v * 100)) < 1e-6, "at most 2 decimals");

/** Cents as an integer, so sums are exact. */
export const toCents = (amount: number): number => Math.round(amount * 100);
export const fromCents = (cents: number): number => cents / 100;

export const MAX_JSON_DEPTH = 32;

/**
 * Why a JSON value cannot be stored as jsonb, or null when it can: nesting deeper than
 * MAX_JSON_DEPTH, a string (or key) PostgreSQL refuses, or a number JSON.parse turned into
 * Infinity (`1e400`), which would be stored as null.
 */
export function jsonProblem(value: unknown, depth = 0): string | null {
  if (depth > MAX_JSON_DEPTH) return `nested deeper than ${MAX_JSON_DEPTH} levels`;
  if (typeof value === "string") return badString(value);
  if (typeof value === "number" && !Number.isFinite(value)) return "contains a number too large to represent";
  if (Array.isArray(value)) {
    for (const item of value) {
      const problem = jsonProblem(item, depth + 1);
      if (problem) return problem;
    }
  } else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      const problem = badString(key) ?? jsonProblem(item, depth + 1);
      if (problem) return problem;
    }
  }
  return null;
}

function badString(s: string): string | null {
  if (s.includes("\u0000")) return "contains a NUL character";
  if (LONE_SURROGATE.test(s)) return "contains invalid Unicode";
  return null;
}

/** Any JSON value that jsonb can hold (see jsonProblem). */
export const storableJson = z.unknown().superRefine((value, ctx) => {
  const problem = jsonProblem(value);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/** Zod issues as field problems: `items.0.quantity`, or `root` for the value as a whole. */
export function issuesToDetails(issues: readonly z.core.$ZodIssue[], root = "(body)"): FieldProblem[] {
  const at = (path: readonly PropertyKey[]) => (path.length ? path.map(String).join(".") : root);
  return issues.flatMap((i) =>
    // An unknown field is named itself, not its parent object.
    i.code === "unrecognized_keys" ? i.keys.map((k) => ({ path: at([...i.path, k]), message: "unknown field" })) : [{ path: at(i.path), message: i.message }],
  );
}
