// The engine's side of pausing a handler (issue 13): every machine's consumer loops read the flag in
// `<prefix>:paused` and honour it within a second. A paused handler reads nothing new and shows as
// paused; resumed, it catches up. Expected to fail until the engine reads the flag (src/engine/).
import { afterEach, beforeEach, expect, test } from "bun:test";
import { startTestApi } from "./support/api.ts";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { ADMIN_TOKEN, bearer, insertUserEvent, operatorHandlers } from "./support/operators.ts";

let ctx: TestContext;
beforeEach(async () => (ctx = await createTestContext()));
afterEach(() => ctx.cleanup());

const ran = async (handler: string, ids: string[]) =>
  Number((await ctx.sql`select count(*)::int as n from effects where handler = ${handler} and event_id = any(${ids}::uuid[])`)[0]!.n);

test("a paused handler processes nothing written while it is paused, other handlers go on, and once resumed it processes all of it", async () => {
  const api = await startTestApi(ctx, { env: { ADMIN_TOKEN }, subscriptions: operatorHandlers() });
  await api.engine!.consumersStarted;
  // Running before the pause: it processes as usual.
  const before = await insertUserEvent(ctx, { userId: "before" });
  await waitFor("steady ran the first event", async () => (await ran("steady", [before])) === 1);

  expect((await api.call("POST", "/handlers/steady/pause", { by: "pause-test" }, bearer)).status).toBe(200);
  await Bun.sleep(1_100); // every machine honours the flag within a second
  const during: string[] = [];
  for (let i = 0; i < 5; i++) during.push(await insertUserEvent(ctx, { userId: `during-${i}` }));
  await waitFor("picky, not paused, ran them", async () => (await ran("picky", during)) === during.length);
  await Bun.sleep(2_000);
  expect(await ran("steady", during)).toBe(0);
  const state = (await api.call("GET", "/handlers", undefined, bearer)).body.handlers.find((h: any) => h.name === "steady");
  expect(state.paused).toMatchObject({ by: "pause-test" });
  // Nothing new was read: the events wait in the stream for this handler, none is held.
  expect(state.subscriptions[0]).toMatchObject({ waiting: during.length, inFlight: 0 });

  expect((await api.call("POST", "/handlers/steady/resume", undefined, bearer)).status).toBe(200);
  await waitFor("steady caught up after the resume", async () => (await ran("steady", during)) === during.length, 5_000);
});
