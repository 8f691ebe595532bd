// Searching the durable dead-letter record and acting on what a search finds (GET /dlq?q=&field=,
// POST /dlq/retry and /dlq/delete with a search), on top of the plain list in dlq.test.ts.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { insertDeadLetters, newDeadLetter } from "../src/engine/dead-letters/row.ts";
import { startTestApi, type TestApi } from "./support/api.ts";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { ADMIN_TOKEN, bearer, insertUserEvent, operatorHandlers, waitForDeadLetters } from "./support/operators.ts";

let ctx: TestContext;
let api: TestApi;
let ids: Record<string, string>;
let accepted: Set<string>;
beforeEach(async () => {
  ctx = await createTestContext();
  accepted = new Set();
  api = await startTestApi(ctx, { env: { ADMIN_TOKEN }, subscriptions: operatorHandlers({ accepted }) });
  await api.engine!.consumersStarted;
  // Four events `picky` dead-letters, differing in every searchable way.
  ids = {
    ada: await insertUserEvent(ctx, { userId: "ada", email: "ada@example.com", bad: true }, { aggregateId: "user-ada", tenantId: "acme" }),
    bob: await insertUserEvent(ctx, { userId: "bob", email: "bob@example.com", bad: true }, { aggregateId: "user-bob", tenantId: "acme" }),
    cy: await insertUserEvent(ctx, { userId: "cy_50%", email: "cy@example.org", bad: true }, { aggregateId: "user-cy", tenantId: "globex" }),
    dee: await insertUserEvent(ctx, { userId: "dee", bad: true }, { tenantId: "globex" }),
  };
  await waitForDeadLetters(ctx, 4);
});
afterEach(() => ctx.cleanup());

async function search(query: string): Promise<{ items: any[]; nextCursor: string | null }> {
  const res = await api.call("GET", `/dlq?${query}`, undefined, bearer);
  expect(res.status).toBe(200);
  return res.body;
}
const users = (body: { items: any[] }) => body.items.map((i) => i.payload.userId).sort();

test("a payload field, the aggregate, the tenant, the error text and the event id each find exactly their dead letters", async () => {
  expect(users(await search("field=payload.email&q=bob@example.com"))).toEqual(["bob"]);
  expect(users(await search("field=payload.userId&q=cy_50%25"))).toEqual(["cy_50%"]);
  expect(users(await search("field=aggregateId&q=user-ada"))).toEqual(["ada"]);
  expect(users(await search("field=tenantId&q=globex"))).toEqual(["cy_50%", "dee"]);
  expect(users(await search("field=error&q=REFUSES%20DEE"))).toEqual(["dee"]);
  expect(users(await search(`field=eventId&q=${ids.bob}`))).toEqual(["bob"]);
  // Payload text, with % and _ taken literally rather than as patterns.
  expect(users(await search("field=payload&q=example.org"))).toEqual(["cy_50%"]);
  expect(users(await search("field=payload&q=50%25"))).toEqual(["cy_50%"]);
  expect(users(await search("field=payload&q=_"))).toEqual(["cy_50%"]);
  // Without a field: any of them.
  expect(users(await search("q=acme"))).toEqual(["ada", "bob"]);
  expect(users(await search(`q=${ids.dee}`))).toEqual(["dee"]);
  expect((await search("field=payload.email&q=nobody@example.com")).items).toEqual([]);

  const [found] = (await search("field=payload.email&q=ada@example.com")).items;
  expect(found).toMatchObject({
    eventId: ids.ada, eventType: "user.created", handler: "picky", reason: "unrecoverable", error: "picky refuses ada",
    attempts: 1, aggregateId: "user-ada", tenantId: "acme", status: "open", payload: { userId: "ada", email: "ada@example.com", bad: true },
  });
});

test("a search pages newest first with the list's cursors and combines with the filters, reason and status", async () => {
  const first = await search("q=example&limit=2");
  expect(first.items).toHaveLength(2);
  expect(first.nextCursor).not.toBeNull();
  const second = await search(`q=example&limit=2&cursor=${first.nextCursor}`);
  expect(second.nextCursor).toBeNull();
  expect(users({ items: [...first.items, ...second.items] })).toEqual(["ada", "bob", "cy_50%"]);
  const times = [...first.items, ...second.items].map((i) => Date.parse(i.failedAt));
  expect(times).toEqual([...times].sort((a, b) => b - a));

  expect(users(await search("reason=unrecoverable&handler=picky&eventType=user.created"))).toEqual(["ada", "bob", "cy_50%", "dee"]);
  expect((await search("reason=max_attempts")).items).toEqual([]);
  expect((await search("handler=steady&q=acme")).items).toEqual([]);

  // Resolved letters leave the default (open) list but stay findable by status.
  const bob = (await search("field=aggregateId&q=user-bob")).items[0];
  expect((await api.call("DELETE", `/dlq/${bob.id}`, undefined, bearer)).status).toBe(204);
  expect(users(await search("field=tenantId&q=acme"))).toEqual(["ada"]);
  expect(users(await search("status=discarded"))).toEqual(["bob"]);
  expect(users(await search("status=any&q=acme"))).toEqual(["ada", "bob"]);
  // The plain list is what it always was.
  const plain = await search("handler=picky");
  expect(plain.items).toHaveLength(3);
  expect(Object.keys(plain.items[0]).sort()).toEqual(["aggregateId", "attempts", "error", "eventId", "eventType", "failedAt", "handler", "id", "payload", "reason", "status", "tenantId"]);
});

test("a payload-field search skips a malformed entry whose payload is not JSON instead of failing", async () => {
  const [row] = await insertDeadLetters(ctx.sql, [newDeadLetter({
    event_id: null, event_type: "user.created", handler: "picky", stream: `${ctx.prefix}:user.created`, entry_id: "1-1",
    reason: "malformed_entry", error: "entry payload is not JSON", attempts: 1, payload: "{not json", aggregate_id: null, tenant_id: null, occurred_at: null,
  })]);
  expect(users(await search("field=payload.email&q=ada@example.com"))).toEqual(["ada"]);
  expect((await search("field=payload&q=not%20json")).items.map((i) => i.id)).toEqual([row!.id]);
  expect((await search("field=payload&q=not%20json")).items[0].payload).toBe("{not json");
});

test("a bad search is a 400 naming the field, never a failed query", async () => {
  const bad = async (query: string, path: string) => {
    const res = await api.call("GET", `/dlq?${query}`, undefined, bearer);
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: any) => d.path)).toContain(path);
  };
  await bad("field=payload.email", "q");
  await bad("field=password&q=x", "field");
  await bad("field=payload.&q=x", "field");
  await bad("field=payload.a'b&q=x", "field");
  await bad(`field=payload.${Array(10).fill("a").join(".")}&q=x`, "field");
  await bad("field=eventId&q=not-a-uuid", "q");
  await bad("q=a%00b", "q");
  await bad("status=lost", "status");
  await bad(`q=${"x".repeat(501)}`, "q");
  expect((await api.call("GET", "/dlq?q=acme")).status).toBe(401);
});

test("bulk delete by a search counts first with dryRun, then deletes exactly those open dead letters and settles their events", async () => {
  const dry = await api.call("POST", "/dlq/delete", { q: "acme", field: "tenantId", dryRun: true }, bearer);
  expect(dry).toMatchObject({ status: 200, body: { deleted: 2, dryRun: true } });
  expect((await search("")).items).toHaveLength(4);

  const done = await api.call("POST", "/dlq/delete", { q: "acme", field: "tenantId" }, bearer);
  expect(done).toMatchObject({ status: 200, body: { deleted: 2 } });
  expect(users(await search(""))).toEqual(["cy_50%", "dee"]);
  const discarded = await ctx.sql`select event_id from processed_events where handler = 'picky' and outcome = 'discarded'`;
  expect(discarded.map((r) => r.event_id).sort()).toEqual([ids.ada, ids.bob].sort());
  expect((await api.call("POST", "/dlq/delete", { q: "acme", field: "tenantId", dryRun: true }, bearer)).body.deleted).toBe(0);

  const byIds = await api.call("POST", "/dlq/delete", { ids: [(await search("q=dee&field=payload.userId")).items[0].id], dryRun: true }, bearer);
  expect(byIds.body).toEqual({ deleted: 1, dryRun: true });
  const invalid = await api.call("POST", "/dlq/delete", { field: "payload.userId" }, bearer);
  expect(invalid.status).toBe(400);
  expect(invalid.body.error.details[0].path).toBe("q");
});

test("bulk retry by a payload field re-drives only the matching dead letters, and their handler runs them", async () => {
  const dry = await api.call("POST", "/dlq/retry", { field: "payload.email", q: "cy@example.org", dryRun: true }, bearer);
  expect(dry.body).toEqual({ retried: 1, dryRun: true });
  accepted.add("cy_50%"); // the fix is deployed

  const done = await api.call("POST", "/dlq/retry", { field: "payload.email", q: "cy@example.org" }, bearer);
  expect(done).toMatchObject({ status: 202, body: { retried: 1 } });
  await waitFor("picky processed cy", async () => (await ctx.sql`select 1 from effects where handler = 'picky' and event_id = ${ids.cy!}`).length === 1);
  expect(users(await search(""))).toEqual(["ada", "bob", "dee"]);
  expect(users(await search("status=retried"))).toEqual(["cy_50%"]);
});
