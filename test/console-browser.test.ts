// The console in a real browser (Debian's Chromium driven by playwright-core) against a real
// service process, with orders flowing and one event dead-lettered on purpose. Screenshots go to
// test/out/console/; with CONSOLE_DOCS_SCREENSHOT=1 the overview is also saved as docs/console.png.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { createTestContext, waitFor, type TestContext } from "./support/context.ts";
import { ADMIN_TOKEN } from "./support/operators.ts";
import { killProcesses, startProcess, type ServiceProcess } from "./support/process.ts";
import { orderBody } from "./support/shop.ts";

const CHROMIUM = "/usr/bin/chromium";
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const OUT = join(ROOT, "test/out/console");
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

let ctx: TestContext;
let service: ServiceProcess;
let base: string;
let browser: BrowserContext;
let profile: string;
let ordering = true;
let orders: Promise<void>;

const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" };
const api = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(base + path, { method, headers: admin, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: res.status, body: (await res.json().catch(() => null)) as any };
};
/** Waits until the element at `selector` reads `text` (htmx swaps it in without a reload). */
const textIs = (page: Page, selector: string, text: string, timeout = 10_000) =>
  page.waitForFunction(([s, t]) => (globalThis as any).document.querySelector(s)?.textContent === t, [selector, text] as const, { timeout });
const shot = (page: Page, name: string) => page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
  mkdirSync(OUT, { recursive: true });
  ctx = await createTestContext();
  service = startProcess(ctx, { entry: "main", env: { ADMIN_TOKEN, READ_BLOCK_MS: "500" } });
  base = `http://127.0.0.1:${await service.port()}`;
  // Orders keep flowing through the whole test: inventory, notifications and analytics run.
  const product = await api("POST", "/products", { tenantId: "acme", sku: "MUG-1", name: "Mug", price: 12.5, stock: 100_000 });
  expect(product.status).toBe(201);
  orders = (async () => {
    for (let i = 0; ordering && i < 400; i++) {
      await api("POST", "/orders", orderBody("acme", [{ productId: product.body.id, quantity: 1, unitPrice: 12.5 }]));
      await Bun.sleep(150);
    }
  })();
  profile = mkdtempSync(join(tmpdir(), "orderstream-chromium-"));
  browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1360, height: 900 } });
}, 30_000);

afterAll(async () => {
  ordering = false;
  await orders?.catch(() => {});
  await browser?.close().catch(() => {});
  if (profile) rmSync(profile, { recursive: true, force: true });
  await killProcesses();
  await ctx?.cleanup();
});

test("an operator logs in, watches the counts change, finds a dead letter by a payload field, retries it, sees it processed, and pauses and resumes a handler", async () => {
  const page = await browser.newPage();

  // No session: the console sends the browser to the login form.
  await page.goto(`${base}/ui`);
  expect(new URL(page.url()).pathname).toBe("/ui/login");
  await shot(page, "01-login");

  // A wrong token: the form again, with an error, answered 401.
  await page.fill('input[name="token"]', "not-the-admin-token");
  const [refused] = await Promise.all([page.waitForResponse((r) => r.url().endsWith("/ui/login") && r.request().method() === "POST"), page.click('button[type="submit"]')]);
  expect(refused.status()).toBe(401);
  await expect(page.locator('[data-testid="login-error"]').textContent()).resolves.toContain("not the admin token");
  await shot(page, "02-wrong-token");

  await page.fill('input[name="token"]', ADMIN_TOKEN);
  await Promise.all([page.waitForURL(`${base}/ui`), page.click('button[type="submit"]')]);
  await page.waitForSelector('[data-testid="handler-order.created-inventory"]', { timeout: 15_000 });
  expect(await page.locator('[data-testid="dead-total"]').textContent()).toBe("0");

  // A dead letter made on purpose: a cancellation for an order that does not exist (yet).
  const orderId = crypto.randomUUID();
  const probe = `console-probe-${Date.now()}`;
  const event = await api("POST", "/events", { eventType: "order.cancelled", aggregateId: orderId, payload: { orderId, reason: probe, cancelledAt: new Date().toISOString() } });
  expect(event.status).toBe(202);
  // The overview refreshes itself: the count goes to 1 without a reload.
  await textIs(page, '[data-testid="dead-total"]', "1", 15_000);
  const cancelledRow = page.locator('[data-testid="handler-order.cancelled-inventory"]');
  expect(await cancelledRow.locator('[data-testid="dead-lettered"]').textContent()).toBe("1");
  // The charts (the service flushes its counts to Redis every 5 s; the page reloads them every 15 s)
  // survive the panel's refreshes.
  await page.waitForSelector("#charts .chart canvas", { timeout: 25_000 });
  await textIs(page, '[data-testid="dead-total"]', "1");
  expect(await page.locator("#charts .chart").count()).toBeGreaterThan(0);
  await shot(page, "03-overview");
  if (process.env.CONSOLE_DOCS_SCREENSHOT === "1") await page.screenshot({ path: join(ROOT, "docs/console.png") });

  // Search the dead letters by a field of the payload.
  await page.click('a[href="/ui/dead-letters"]');
  await page.selectOption('[data-testid="search-field"]', "payloadField");
  await page.fill('[data-testid="search-path"]', "reason");
  await page.fill('[data-testid="search-q"]', probe);
  await Promise.all([page.waitForURL(/\/ui\/dead-letters\?/), page.click('[data-testid="search"]')]);
  const rows = page.locator('[data-testid="dead-letter"]');
  expect(await rows.count()).toBe(1);
  expect(await rows.first().textContent()).toContain(`order ${orderId} does not exist`);
  await shot(page, "04-dead-letter-search");

  // The cause is fixed (the order exists now); retry from the row.
  await ctx.sql`
    insert into orders (id, tenant_id, customer_id, customer_email, total_amount, shipping_address)
    values (${orderId}, 'acme', 'customer-1', 'customer@example.com', 0, '{}'::jsonb)`;
  await rows.first().locator('[data-testid="retry"]').click();
  await textIs(page, '[data-testid="dead-letter"] [data-testid="status"]', "retried");
  await shot(page, "05-retried");

  // The events page shows it processed by inventory.
  await page.goto(`${base}/ui/events?q=${event.body.id}`);
  await waitFor("inventory processed the retried event", async () => {
    await page.reload();
    return (await page.locator('[data-testid="stage-inventory"] [data-testid="stage"]').textContent()) === "processed";
  }, 15_000, 500);
  await shot(page, "06-event-processed");

  // Pause and resume a handler: the overview shows the state change (the engine honouring it is test/pause.test.ts).
  await page.goto(`${base}/ui`);
  const analytics = page.locator('[data-testid="handler-order.confirmed-analytics"]');
  await analytics.locator('[data-testid="pause"]').click();
  await textIs(page, '[data-testid="handler-order.confirmed-analytics"] [data-testid="state"]', "paused");
  expect((await api("GET", "/handlers")).body.handlers.find((h: any) => h.name === "analytics").paused).toMatchObject({ by: "console" });
  await shot(page, "07-paused");
  await page.locator('[data-testid="handler-order.confirmed-analytics"] [data-testid="resume"]').click();
  await textIs(page, '[data-testid="handler-order.confirmed-analytics"] [data-testid="state"]', "running");
  expect((await api("GET", "/handlers")).body.handlers.find((h: any) => h.name === "analytics").paused).toBeNull();

  // Log out: the console is closed again.
  await Promise.all([page.waitForURL(/\/ui\/login/), page.click(".logout button")]);
  await page.goto(`${base}/ui/dead-letters`);
  expect(new URL(page.url()).pathname).toBe("/ui/login");
}, 60_000);
