// What an operator reads when a handler fails: the database's reason, never the customer data.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { products } from "../src/db/schema.ts";
import { createLogger } from "../src/lib/logger.ts";
import { logTransport } from "../src/notifications/transport.ts";
import { createTestContext, type TestContext } from "./support/context.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(() => ctx.cleanup());

test("a failed query is logged with its statement, the SQLSTATE and the database's reason, but not its parameters", async () => {
  const product = { tenantId: `${ctx.prefix}-shop`, sku: "sku-1", name: "private name 7f3c", price: 1, stock: 1 };
  await ctx.db.insert(products).values(product);
  const thrown = await ctx.db.insert(products).values(product).then(() => null, (err: Error) => err);
  const lines: string[] = [];
  createLogger({ write: (l) => lines.push(l) }).warn("handler failed", { err: thrown });
  const { err } = JSON.parse(lines[0]!);
  expect(err.message).toStartWith('failed query: insert into "products"');
  expect(err.cause).toMatchObject({ code: "23505" });
  expect(err.cause.message).toContain("duplicate key");
  expect(lines[0]).not.toContain("private name 7f3c");
});

test("the default notification transport logs that an e-mail went out without its recipient's address at info; debug shows it", async () => {
  const email = { recipient: "ada.lovelace@example.com", subject: "Order ORD-00000001 confirmed", body: "Your order is confirmed." };
  const info: string[] = [];
  await logTransport(createLogger({ level: "info", write: (l) => info.push(l) })).send(email, new AbortController().signal);
  expect(info).toHaveLength(1);
  expect(JSON.parse(info[0]!)).toMatchObject({ level: "info", msg: "notification sent", subject: email.subject });
  expect(info.join("\n")).not.toContain("ada.lovelace");
  expect(info.join("\n")).not.toContain("example.com");

  const debug: string[] = [];
  await logTransport(createLogger({ level: "debug", write: (l) => debug.push(l) })).send(email, new AbortController().signal);
  expect(debug.filter((l) => l.includes(email.recipient)).map((l) => JSON.parse(l).level)).toEqual(["debug"]);
});
