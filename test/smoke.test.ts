import { afterEach, beforeEach, expect, test } from "bun:test";
import { z } from "zod";
import { subscribe } from "../src/streams/handler.ts";
import { createTestContext, insertOutboxRow, waitFor, type TestContext } from "./support/context.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(() => ctx.cleanup());

test("a row inserted by plain SQL reaches its handler", async () => {
  const seen: string[] = [];
  await ctx.startEngine([
    subscribe({
      handler: "welcome", eventType: "user.created", schema: z.object({ userId: z.string() }),
      handle: async (e, { tx }) => { seen.push(e.payload.userId); void tx; },
    }),
  ]);
  await insertOutboxRow(ctx.sql, "user.created", { userId: "u1" });
  await waitFor("delivery", () => seen.length === 1);
  expect(seen).toEqual(["u1"]);
});
