import type { TestContext } from "./context.ts";

/** Rows in one of the test schema's tables (a fixed table name from the test, never user input). */
export async function countRows(ctx: TestContext, table: string): Promise<number> {
  const [row] = await ctx.sql.unsafe<{ n: number }[]>(`select count(*)::int as n from "${table}"`);
  return row!.n;
}
