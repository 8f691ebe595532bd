/**
 * A JS array as a PostgreSQL array literal, to pass as one parameter to `= any($1::uuid[])` or
 * `unnest($1::int[])` through drizzle's `sql` (which would otherwise expand it into a list, and
 * spends far more time building a statement with one parameter per value). null is SQL NULL.
 */
export function pgArray(values: readonly (string | number | null)[]): string {
  return `{${values.map((v) => (v === null ? "NULL" : typeof v === "number" ? String(v) : `"${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`)).join(",")}}`;
}
