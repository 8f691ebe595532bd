import { afterEach, beforeEach, expect, test } from "bun:test";
import { startTestApi } from "./support/api.ts";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { ADMIN_TOKEN, bearer } from "./support/operators.ts";
import { createSequenceTable, range, runOrder, sequenceHandler, writeSteps } from "./support/ordered.ts";

let ctx: TestContext;
beforeEach(async () => {
  ctx = await createTestContext();
  await createSequenceTable(ctx.sql);
});
afterEach(() => ctx.cleanup());

const env = { STREAM_PARTITIONS: "2", ADMIN_TOKEN };

test("GET /dlq/blocked-keys lists each parked key with its first failing event, and retrying that dead letter releases it", async () => {
  const failing = new Set(["A:2"]);
  const api = await startTestApi(ctx, { env, subscriptions: [sequenceHandler({ failing })] });
  await api.engine!.consumersStarted;
  const ids = await writeSteps(ctx, ["A", "B"], 1, 4);
  await waitFor("B done and A parked with two waiting", async () => {
    const res = await api.call("GET", "/dlq/blocked-keys", undefined, bearer);
    return (await runOrder(ctx.sql)).get("B")?.length === 4 && res.body.items?.[0]?.waiting === 2;
  });

  const res = await api.call("GET", "/dlq/blocked-keys", undefined, bearer);
  expect(res.status).toBe(200);
  expect(res.body.items).toHaveLength(1);
  const [item] = res.body.items;
  expect(item).toMatchObject({ handler: "seq", eventType: "step.done", key: "A", state: "parked", waiting: 2 });
  expect(item.deadLetter).toMatchObject({ eventId: ids.get("A:2"), reason: "max_attempts", error: "step 2 of A fails", status: "open" });
  expect(Date.parse(item.parkedAt)).toBeGreaterThan(0);
  expect(Date.parse(item.deadLetter.failedAt)).toBeGreaterThan(0);
  // Filters.
  expect((await api.call("GET", "/dlq/blocked-keys?handler=other", undefined, bearer)).body.items).toEqual([]);
  expect((await api.call("GET", "/dlq/blocked-keys?eventType=step.done&handler=seq", undefined, bearer)).body.items).toHaveLength(1);

  failing.clear();
  const retried = await api.call("POST", `/dlq/${item.deadLetter.id}/retry`, undefined, bearer);
  expect(retried.status).toBe(202);
  await waitFor("A released", async () => (await api.call("GET", "/dlq/blocked-keys", undefined, bearer)).body.items.length === 0);
  expect((await runOrder(ctx.sql)).get("A")).toEqual(range(1, 4));
});

test("deleting the dead letter through the API releases the key without its event", async () => {
  const failing = new Set(["A:1"]);
  const api = await startTestApi(ctx, { env, subscriptions: [sequenceHandler({ failing })] });
  await api.engine!.consumersStarted;
  await writeSteps(ctx, ["A"], 1, 3);
  const item = await waitFor("A parked with two waiting", async () =>
    (await api.call("GET", "/dlq/blocked-keys", undefined, bearer)).body.items.find((i: { waiting: number }) => i.waiting === 2));
  expect((await api.call("DELETE", `/dlq/${item.deadLetter.id}`, undefined, bearer)).status).toBe(204);
  await waitFor("A released", async () => (await api.call("GET", "/dlq/blocked-keys", undefined, bearer)).body.items.length === 0);
  expect((await runOrder(ctx.sql)).get("A")).toEqual([2, 3]);
});

test("/dlq/blocked-keys needs the admin token and refuses bad filters, naming the field", async () => {
  const api = await startTestApi(ctx, { engine: false, env });
  expect((await api.call("GET", "/dlq/blocked-keys")).status).toBe(401);
  const empty = await api.call("GET", "/dlq/blocked-keys", undefined, bearer);
  expect(empty.status).toBe(200);
  expect(empty.body).toEqual({ items: [] });
  const bad = await api.call("GET", "/dlq/blocked-keys?limit=0", undefined, bearer);
  expect(bad.status).toBe(400);
  expect(JSON.stringify(bad.body)).toContain("limit");
  const unknown = await api.call("GET", "/dlq/blocked-keys?nope=1", undefined, bearer);
  expect(unknown.status).toBe(400);
});
