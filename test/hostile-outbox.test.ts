// Malformed outbox rows inserted with plain SQL, as another service would, while the engine and
// the real handlers run: each bad row is dead-lettered for every handler of its type with reason
// schema_invalid and an error naming the field, and the valid rows behind it are all processed.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { startTestApi, type TestApi } from "./support/api.ts";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";

let ctx: TestContext;
let api: TestApi;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(() => ctx.cleanup());

const ORDER = "6f1c1c3e-8a5e-4f7b-9d1e-2b8c0f1a9e11";
const address = { firstName: "A", lastName: "B", address1: "x", city: "Berlin", postalCode: "10115", country: "DE" };

/** Inserts a row with its payload as raw jsonb text (a JSON string, array or null included). */
async function insertRaw(eventType: string, payloadJson: string): Promise<string> {
  const [row] = await ctx.sql<{ id: string }[]>`insert into outbox (event_type, payload) values (${eventType}, ${payloadJson}::jsonb) returning id`;
  return row!.id;
}

/** Valid user.created rows (handled by notifications and analytics). */
async function insertValidUsers(n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(await insertRaw("user.created", JSON.stringify({ userId: `user-${i}`, email: `u${i}@example.com`, role: "buyer" })));
  return ids;
}

const processedCount = async (ids: string[]) =>
  Number((await ctx.sql`select count(*)::int as n from processed_events where event_id = any(${ids}::uuid[])`)[0]!.n);

async function deadLettersOf(eventId: string) {
  return ctx.sql<{ handler: string; reason: string; error: string; event_type: string }[]>`
    select handler, reason, error, event_type from dead_letters where event_id = ${eventId} order by handler`;
}

// [what, event type, payload as jsonb text, the handlers of that type, a field the error must name]
const MALFORMED: [string, string, string, string[], string][] = [
  ["order.created missing most fields", "order.created", JSON.stringify({ orderId: ORDER }), ["analytics", "inventory"], "tenantId"],
  ["order.created with a quantity of 1e400", "order.created", JSON.stringify({
    orderId: ORDER, tenantId: "t1", orderNumber: "ORD-1", customerId: "c1", customerEmail: "a@example.com", totalAmount: 1,
    items: [{ productId: ORDER, quantity: 1, unitPrice: 1 }], shippingAddress: address, createdAt: new Date().toISOString(),
  }).replace('"quantity":1', '"quantity":1e400'), ["analytics", "inventory"], "items.0.quantity"],
  ["payment.processed with amount \"ten\"", "payment.processed", JSON.stringify({ paymentId: "p1", orderId: ORDER, amount: "ten", status: "succeeded" }), ["notifications", "payments"], "amount"],
  ["user.created whose payload is a JSON string", "user.created", JSON.stringify("just a string"), ["analytics", "notifications"], "(payload)"],
  ["order.cancelled whose payload is an array", "order.cancelled", "[1, 2, 3]", ["inventory", "notifications"], "(payload)"],
  ["product.created whose payload is null", "product.created", "null", ["analytics"], "(payload)"],
  ["webhook.received with a webhookPayloadId that is not a uuid", "webhook.received", JSON.stringify({ webhookPayloadId: "nope", provider: "acme", webhookId: "m1", type: "x" }), ["webhooks"], "webhookPayloadId"],
  ["tenant.created with a 100-deep name", "tenant.created", `{"tenantId":"t1","slug":"t","name":${"[".repeat(100)}${"]".repeat(100)}}`, ["analytics"], "name"],
];

test("malformed rows of known types are dead-lettered as schema_invalid naming the field, and never block the rows behind them", async () => {
  api = await startTestApi(ctx);
  const bad: { id: string; what: string; handlers: string[]; field: string; type: string }[] = [];
  for (const [what, type, payload, handlers, field] of MALFORMED) bad.push({ id: await insertRaw(type, payload), what, handlers, field, type });
  const valid = await insertValidUsers(20);

  await waitFor("every valid row processed by both user.created handlers", async () => (await processedCount(valid)) === valid.length * 2, 20_000);
  for (const b of bad) {
    const letters = await waitFor(`${b.what} dead-lettered`, async () => {
      const rows = await deadLettersOf(b.id);
      return rows.length === b.handlers.length && rows;
    });
    expect(letters.map((l) => l.handler)).toEqual(b.handlers);
    for (const l of letters) {
      expect(l).toMatchObject({ reason: "schema_invalid", event_type: b.type });
      expect(l.error).toContain(`${b.field}:`);
    }
  }
  // Nothing of a bad row reached a handler.
  expect(await processedCount(bad.map((b) => b.id))).toBe(0);

  // The admin API shows them, with the reason and the field.
  const listed = await api.call("GET", "/dlq?eventType=payment.processed");
  expect(listed.status).toBe(200);
  expect(listed.body.items.map((i: any) => [i.handler, i.reason])).toEqual(expect.arrayContaining([["payments", "schema_invalid"], ["notifications", "schema_invalid"]]));
  expect(listed.body.items[0].error).toContain("amount:");
});

// Needs relay-side dead-lettering of event types no handler reads and of reserved types (being
// added to src/outbox by the lead). Today "foo.bar" is XADDed to <prefix>:foo.bar, a stream no
// group reads, and stays there unseen; a "dlq" row is refused by every relay run and stays
// unpublished, and RELAY_BATCH_SIZE such rows at the head of the outbox block every row behind them.
test("rows of an unknown or reserved event type are dead-lettered with a clear reason and never block the rows behind them", async () => {
  api = await startTestApi(ctx, { env: { RELAY_BATCH_SIZE: "2" } });
  const unknown = await insertRaw("foo.bar", JSON.stringify({ a: 1 }));
  const reserved = [];
  for (let i = 0; i < 3; i++) reserved.push(await insertRaw("dlq", JSON.stringify({ i })));
  const lockType = await insertRaw("lock:relay", JSON.stringify({}));
  const valid = await insertValidUsers(10);

  await waitFor("every valid row behind them processed", async () => (await processedCount(valid)) === valid.length * 2, 20_000);
  for (const [id, type] of [[unknown, "foo.bar"], ...reserved.map((r) => [r, "dlq"]), [lockType, "lock:relay"]] as const) {
    const [letter] = await waitFor(`the ${type} row dead-lettered`, async () => {
      const rows = await deadLettersOf(id);
      return rows.length > 0 && rows;
    });
    expect(letter!.event_type).toBe(type);
    expect(letter!.reason).toMatch(/\w/);
    expect(letter!.error).toMatch(/unknown|reserved|no handler|not subscribed|unroutable/i);
  }
  expect(Number((await ctx.sql`select count(*)::int as n from outbox where published_at is null`)[0]!.n)).toBe(0);
});
