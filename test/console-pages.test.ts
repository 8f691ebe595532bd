// What the console's pages show and do, through app.request() (the browser test drives the same in Chromium).
import { afterEach, beforeEach, expect, test } from "bun:test";
import { keys } from "../src/engine/redis/keys.ts";
import { startTestApi, type TestApi } from "./support/api.ts";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { ADMIN_TOKEN, bearer, insertUserEvent, operatorHandlers, waitForDeadLetters } from "./support/operators.ts";

let ctx: TestContext;
let api: TestApi;
let accepted: Set<string>;
beforeEach(async () => {
  ctx = await createTestContext();
  accepted = new Set();
  api = await startTestApi(ctx, { env: { ADMIN_TOKEN }, subscriptions: operatorHandlers({ accepted }) });
  await api.engine!.consumersStarted;
});
afterEach(() => ctx.cleanup());

async function page(path: string, init: RequestInit = {}): Promise<string> {
  const res = await api.app.request(`http://console.test${path}`, { ...init, headers: { ...bearer, ...(init.headers as Record<string, string>) } });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/html");
  return res.text();
}
const post = (path: string, fields: Record<string, string | string[]>, htmx = true) => {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) for (const one of [v].flat()) body.append(k, one);
  return api.app.request(`http://console.test${path}`, {
    method: "POST", body: body.toString(),
    headers: { ...bearer, "content-type": "application/x-www-form-urlencoded", ...(htmx ? { "hx-request": "true" } : {}) },
  });
};
/** The text of the cell with `testid` in the row of `handler` on `eventType`. */
const cell = (html: string, eventType: string, handler: string, testid: string) => {
  const row = html.split(`data-testid="handler-${eventType}-${handler}"`)[1]?.split("</tr>")[0] ?? "";
  return new RegExp(`data-testid="${testid}"[^>]*>(?:<[^>]+>)*([^<]*)`).exec(row)?.[1];
};

test("the overview shows every handler's counts, consumers and the fleet, and its live panel refreshes them", async () => {
  await insertUserEvent(ctx, { userId: "u1", bad: true });
  await waitForDeadLetters(ctx, 1);
  const html = await page("/ui");
  expect(html).toContain("user.created");
  expect(cell(html, "user.created", "picky", "dead-lettered")).toBe("1");
  expect(cell(html, "user.created", "steady", "dead-lettered")).toBe("0");
  expect(cell(html, "user.created", "steady", "state")).toBe("running");
  expect(html).toContain(`${ctx.prefix}-main`);
  expect(html).toContain('id="charts"');
  expect(html).toContain('hx-trigger="every 2s"');

  await insertUserEvent(ctx, { userId: "u2", bad: true });
  await waitForDeadLetters(ctx, 2);
  const live = await page("/ui/live", { headers: { "hx-request": "true" } });
  expect(live.startsWith('<div id="live"')).toBe(true);
  expect(cell(live, "user.created", "picky", "dead-lettered")).toBe("2");
  expect(/data-testid="dead-total"[^>]*>(\d+)/.exec(live)?.[1]).toBe("2");
});

test("pause and resume from the overview show the handler paused and running again", async () => {
  const paused = await post("/ui/handlers/flaky/pause", {});
  expect(paused.status).toBe(200);
  expect(cell(await paused.text(), "user.created", "flaky", "state")).toBe("paused");
  expect(cell(await page("/ui"), "user.created", "flaky", "state")).toBe("paused");
  const resumed = await post("/ui/handlers/flaky/resume", {});
  expect(cell(await resumed.text(), "user.created", "flaky", "state")).toBe("running");
  expect((await post("/ui/handlers/nobody/pause", {})).status).toBe(404);
});

test("the dead-letter page finds a letter by a payload field, and retrying it from its row gets it processed", async () => {
  const wanted = await insertUserEvent(ctx, { userId: "ada", email: "ada@example.com", bad: true });
  await insertUserEvent(ctx, { userId: "bob", email: "bob@example.com", bad: true });
  await waitForDeadLetters(ctx, 2);

  const all = await page("/ui/dead-letters");
  expect(all.match(/data-testid="dead-letter"/g)).toHaveLength(2);
  const found = await page("/ui/dead-letters?field=payloadField&path=email&q=ada%40example.com");
  expect(found.match(/data-testid="dead-letter"/g)).toHaveLength(1);
  expect(found).toContain("picky refuses ada");
  expect(found).not.toContain("picky refuses bob");
  const id = /data-testid="dead-letter" data-id="([^"]+)"/.exec(found)![1]!;

  const detail = await page(`/ui/dead-letters/${id}`);
  expect(detail).toContain("ada@example.com");
  expect(detail).toContain(wanted);
  expect(detail).toContain('data-testid="history"');

  accepted.add("ada");
  const retried = await post(`/ui/dead-letters/${id}/retry`, {});
  expect(retried.status).toBe(200);
  expect(await retried.text()).toContain('data-testid="status">retried<');
  await waitFor("picky processed ada", async () => (await ctx.sql`select 1 from effects where handler = 'picky' and event_id = ${wanted}`).length === 1);
  const trace = await page(`/ui/events?q=${wanted}`);
  expect(/data-testid="stage-picky"[\s\S]*?data-testid="stage">([^<]+)</.exec(trace)?.[1]).toBe("processed");
});

test("bulk actions show a dry-run count first and act only when confirmed", async () => {
  for (const u of ["a", "b", "c"]) await insertUserEvent(ctx, { userId: u, bad: true }, { tenantId: u === "c" ? "globex" : "acme" });
  await waitForDeadLetters(ctx, 3);
  const dry = await post("/ui/dead-letters/bulk", { op: "delete-matching", field: "tenantId", q: "acme" });
  expect(dry.status).toBe(200);
  const panel = await dry.text();
  expect(/data-testid="bulk-count">(\d+) open dead letters will be deleted/.exec(panel)?.[1]).toBe("2");
  expect(Number((await ctx.sql`select count(*)::int as n from dead_letters where status = 'open'`)[0]!.n)).toBe(3);

  const done = await post("/ui/dead-letters/bulk", { op: "delete-matching", field: "tenantId", q: "acme", confirm: "1" });
  expect(await done.text()).toContain("2 dead letters deleted");
  const open = await ctx.sql<{ tenant_id: string }[]>`select tenant_id from dead_letters where status = 'open'`;
  expect(open.map((r) => r.tenant_id)).toEqual(["globex"]);

  const [last] = await ctx.sql<{ id: string }[]>`select id from dead_letters where status = 'open'`;
  const selected = await post("/ui/dead-letters/bulk", { op: "retry-selected", ids: [last!.id] });
  expect(await selected.text()).toContain("1 open dead letter will be retried");
  expect(await (await post("/ui/dead-letters/bulk", { op: "retry-selected" })).text()).toContain("Select some dead letters first");
});

test("the events page finds an event by id or by aggregate and shows where it is for each handler", async () => {
  const id = await insertUserEvent(ctx, { userId: "u1", flaky: true }, { aggregateId: "user-1" });
  await waitFor("flaky's first failure", async () => (await ctx.redis.hlen(keys.failures(ctx.prefix, "flaky", "user.created"))) === 1);
  await waitFor("steady processed it", async () => (await ctx.sql`select 1 from effects where handler = 'steady' and event_id = ${id}`).length === 1);
  for (const q of [id, "user-1"]) {
    const html = await page(`/ui/events?q=${q}`);
    expect(html).toContain(`data-event-id="${id}"`);
    expect(/data-testid="stage-steady"[\s\S]*?data-testid="stage">([^<]+)</.exec(html)?.[1]).toBe("processed");
    expect(/data-testid="stage-flaky"[\s\S]*?data-testid="stage">([^<]+)</.exec(html)?.[1]).toBe("retrying");
  }
  expect(await page("/ui/events?q=nothing-here")).toContain('data-testid="no-event"');
});
