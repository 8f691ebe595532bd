/**
 * A JS array as a PostgreSQL array literal, to pass as one parameter to `= any($1::uuid[])` or
 * `unnest($1::int[])` through drizzle's `sql` (which would otherwise expand it into a list).
 */
export function pgArray(values: readonly (string | number)[]): string {
  return `{${values.map((v) => (typeof v === "number" ? String(v) : `"${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`)).join(",")}}`;
}
