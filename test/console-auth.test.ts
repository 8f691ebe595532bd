// Who gets into the console (GET /ui) and how: the login form and its cookie, the bearer token,
// logout, and forms that cannot be posted from another site.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { SESSION_COOKIE } from "../src/console/auth.ts";
import { startTestApi, type TestApi } from "./support/api.ts";
import { createTestContext, type TestContext } from "./support/context.ts";
import { ADMIN_TOKEN, bearer } from "./support/operators.ts";

let ctx: TestContext;
let api: TestApi;
beforeEach(async () => {
  ctx = await createTestContext();
  api = await startTestApi(ctx, { engine: false, env: { ADMIN_TOKEN } });
});
afterEach(() => ctx.cleanup());

const HOST = "console.test";
const req = (path: string, init: RequestInit = {}) => api.app.request(`http://${HOST}${path}`, init);
const form = (fields: Record<string, string>, headers: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded", origin: `http://${HOST}`, ...headers },
  body: new URLSearchParams(fields).toString(),
});

/** Logs in through the form; returns the cookie header to send back and the page's CSRF token. */
async function login(): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const res = await req("/ui/login", form({ token: ADMIN_TOKEN, next: "/ui/dead-letters?handler=x" }));
  expect(res.status).toBe(303);
  expect(res.headers.get("location")).toBe("/ui/dead-letters?handler=x");
  const setCookie = res.headers.get("set-cookie")!;
  const cookie = setCookie.split(";")[0]!;
  const page = await (await req("/ui/events", { headers: { cookie } })).text();
  const csrf = /"X-CSRF-Token":"([^"]+)"/.exec(page.replaceAll("&quot;", '"'))?.[1];
  expect(csrf).toBeDefined();
  return { cookie, csrf: csrf!, setCookie };
}

test("without a session or token every console page redirects to the login form, keeping where it was going", async () => {
  for (const path of ["/ui", "/ui/dead-letters?status=any", "/ui/events?q=x", "/ui/live", "/ui/activity.json"]) {
    const res = await req(path);
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(`/ui/login?next=${encodeURIComponent(path)}`);
  }
  // htmx polling with an expired session is told to load the login page instead of swapping it in.
  const polled = await req("/ui/live", { headers: { "hx-request": "true" } });
  expect(polled.status).toBe(401);
  expect(polled.headers.get("hx-redirect")).toBe("/ui/login?next=%2Fui%2Flive");
  const page = await req("/ui/login?next=/ui/events");
  expect(page.status).toBe(200);
  const html = await page.text();
  expect(html).toContain('name="token"');
  expect(html).toContain('value="/ui/events"');
});

test("the login form with a wrong token answers 401 with the form and an error, and sets no cookie", async () => {
  const res = await req("/ui/login", form({ token: "not-the-admin-token-at-all", next: "/ui" }));
  expect(res.status).toBe(401);
  expect(res.headers.get("set-cookie")).toBeNull();
  const html = await res.text();
  expect(html).toContain("That is not the admin token.");
  expect(html).toContain('name="token"');
  expect(html).not.toContain("not-the-admin-token-at-all");
  expect((await req("/ui/login", form({ next: "/ui" }))).status).toBe(401);
});

test("a good login sets an HttpOnly, SameSite=Strict cookie scoped to /ui that holds no token, and that cookie opens the console", async () => {
  const { cookie, setCookie } = await login();
  expect(setCookie).toMatch(/HttpOnly/i);
  expect(setCookie).toMatch(/SameSite=Strict/i);
  expect(setCookie).toMatch(/Path=\/ui/);
  expect(setCookie).toMatch(/Max-Age=43200/);
  expect(setCookie).not.toMatch(/Secure/i); // not in production: local HTTP must work
  expect(setCookie).not.toContain(ADMIN_TOKEN);
  expect(setCookie).not.toContain(encodeURIComponent(ADMIN_TOKEN));
  const value = decodeURIComponent(cookie.slice(SESSION_COOKIE.length + 1));
  expect(value).toMatch(/^\d+\.[A-Za-z0-9_-]{43}$/);

  const page = await req("/ui", { headers: { cookie } });
  expect(page.status).toBe(200);
  expect(await page.text()).toContain("Event types and handlers");
  expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
  expect(page.headers.get("x-frame-options")).toBe("DENY");
  expect(page.headers.get("cache-control")).toBe("no-store");

  // A forged or tampered cookie is no session.
  const [expires, mac] = value.split(".");
  const later = `${Number(expires) + 86_400}.${mac}`;
  expect((await req("/ui", { headers: { cookie: `${SESSION_COOKIE}=${later}` } })).status).toBe(303);
  expect((await req("/ui", { headers: { cookie: `${SESSION_COOKIE}=${ADMIN_TOKEN}` } })).status).toBe(303);
  // An expired one neither.
  const old = `${Math.floor(Date.now() / 1000) - 10}.${mac}`;
  expect((await req("/ui", { headers: { cookie: `${SESSION_COOKIE}=${old}` } })).status).toBe(303);
});

test("in production the session cookie is Secure", async () => {
  const prod = await startTestApi(ctx, { engine: false, env: { ADMIN_TOKEN, NODE_ENV: "production" } });
  const res = await prod.app.request(`http://${HOST}/ui/login`, form({ token: ADMIN_TOKEN }));
  expect(res.status).toBe(303);
  expect(res.headers.get("set-cookie")).toMatch(/;\s*Secure/i);
});

test("Authorization: Bearer with the admin token opens the console without a login; a wrong one does not", async () => {
  expect((await req("/ui", { headers: bearer })).status).toBe(200);
  expect((await req("/ui/live", { headers: bearer })).status).toBe(200);
  expect((await req("/ui", { headers: { authorization: "Bearer wrong-token-0123456789" } })).status).toBe(303);
});

test("state-changing forms need the session's CSRF token and a same-site origin; logout ends the session", async () => {
  const { cookie, csrf } = await login();
  await ctx.redis.xgroup("CREATE", `${ctx.prefix}:user.created`, "steady", "$", "MKSTREAM");
  const pause = (fields: Record<string, string>, headers: Record<string, string> = {}) => req("/ui/handlers/steady/pause", form(fields, { cookie, ...headers }));

  expect((await pause({})).status).toBe(403);
  expect((await pause({ _csrf: "forged" })).status).toBe(403);
  expect((await pause({ _csrf: csrf }, { origin: "https://evil.example" })).status).toBe(403);
  expect((await pause({ _csrf: csrf }, { "sec-fetch-site": "cross-site" })).status).toBe(403);
  expect(await ctx.redis.exists(`${ctx.prefix}:paused`)).toBe(0);

  const ok = await pause({ _csrf: csrf });
  expect(ok.status).toBe(303);
  expect(JSON.parse((await ctx.redis.hget(`${ctx.prefix}:paused`, "steady"))!).by).toBe("console");
  // htmx sends the token as a header.
  const viaHeader = await req("/ui/handlers/steady/resume", { method: "POST", headers: { cookie, origin: `http://${HOST}`, "x-csrf-token": csrf, "hx-request": "true" } });
  expect(viaHeader.status).toBe(200);
  expect(await ctx.redis.exists(`${ctx.prefix}:paused`)).toBe(0);

  // A login posted from another site is refused too (it would sign the browser in to someone's choosing).
  expect((await req("/ui/login", form({ token: ADMIN_TOKEN }, { origin: "https://evil.example" }))).status).toBe(403);

  const out = await req("/ui/logout", form({ _csrf: csrf }, { cookie }));
  expect(out.status).toBe(303);
  expect(out.headers.get("location")).toBe("/ui/login");
  expect(out.headers.get("set-cookie")).toMatch(new RegExp(`${SESSION_COOKIE}=;.*Max-Age=0`));
});

test("after a login only paths inside the console are followed", async () => {
  for (const next of ["https://evil.example/", "//evil.example", "/\\evil.example", "/uievil", "javascript:alert(1)"]) {
    const res = await req("/ui/login", form({ token: ADMIN_TOKEN, next }));
    expect(res.headers.get("location")).toBe("/ui");
  }
});

test("the console's scripts and styles are served from this service, not a CDN, without a login", async () => {
  for (const [name, type] of [["htmx.js", "javascript"], ["uplot.js", "javascript"], ["uplot.css", "css"], ["console.js", "javascript"], ["console.css", "css"]]) {
    const res = await req(`/ui/assets/${name}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain(type!);
    expect((await res.text()).length).toBeGreaterThan(500);
  }
  expect((await req("/ui/assets/htmx.js")).headers.get("cache-control")).toContain("max-age");
  expect((await req("/ui/assets/../../package.json")).status).not.toBe(200);
  const page = await (await req("/ui", { headers: bearer })).text();
  expect(page).not.toMatch(/src="https?:/);
  expect(page).not.toMatch(/<script>/);
});
