import { Hono, type MiddlewareHandler } from "hono";
import type { AppDeps } from "../http/app.ts";
import { readActivity } from "./activity.ts";
import { assetRoutes } from "./assets.ts";
import { consoleAuth, safeNext, sameOrigin, type ConsoleEnv } from "./auth.ts";
import { deadLetterPages } from "./dead-letter-pages.tsx";
import { listKnownHandlers } from "./known-handlers.ts";
import { LoginPage } from "./pages/login.tsx";
import { LivePanel, OverviewPage, type OverviewData } from "./pages/overview.tsx";
import { EventsPage } from "./pages/events.tsx";
import { doc } from "./pages/layout.tsx";
import { pauseHandler, readHandlerStates, readLastRecovery, readMachines, readOutboxState, resumeHandler, traceAggregate, traceEvent } from "./reads/index.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * `GET /ui`, the operators' console: server-rendered pages (hono/jsx) with a little htmx, behind
 * the admin token (a login form and a session cookie, or `Authorization: Bearer`). Every action
 * here also exists in the JSON API (README "The console").
 */
export function consoleRoutes(deps: AppDeps): Hono<ConsoleEnv> {
  const prefix = deps.config.STREAM_PREFIX;
  const auth = consoleAuth({ token: deps.config.ADMIN_TOKEN, secure: deps.config.NODE_ENV === "production" });
  const app = new Hono<ConsoleEnv>();
  app.use(securityHeaders);
  app.route("/assets", assetRoutes());

  app.get("/login", (c) => {
    if (auth.open) return c.redirect("/ui", 303);
    return c.html(doc(<LoginPage next={safeNext(c.req.query("next"))} />));
  });
  app.post("/login", async (c) => {
    // A login posted from another site would sign this browser in to the attacker's choice.
    if (!sameOrigin(c)) return c.text("cross-site request refused", 403);
    const form = await c.req.parseBody({ all: true });
    const next = safeNext(typeof form.next === "string" ? form.next : undefined);
    const token = typeof form.token === "string" ? form.token : "";
    if (auth.open) return c.redirect(next, 303);
    if (token.length > 1_000 || !auth.checkToken(token)) {
      deps.log.warn("console login refused: wrong admin token");
      return c.html(doc(<LoginPage next={next} error="That is not the admin token." />), 401);
    }
    auth.startSession(c);
    return c.redirect(next, 303);
  });
  app.post("/logout", (c) => {
    auth.endSession(c);
    return c.redirect("/ui/login", 303);
  });

  app.use(auth.guard, auth.csrf);
  const overview = async (): Promise<OverviewData> => {
    const [streams, machines, recovery, outbox] = await Promise.all([
      readHandlerStates({ sql: deps.sql, redis: deps.redis, prefix }), readMachines(deps.redis, prefix), readLastRecovery(deps.redis, prefix), readOutboxState(deps.sql),
    ]);
    return { streams, machines, recovery, outbox, self: { consumer: deps.config.consumerName, version: deps.version } };
  };
  app.get("/", async (c) => c.html(doc(<OverviewPage csrf={c.var.csrf} open={auth.open} data={await overview()} />)));
  app.get("/live", async (c) => c.html(<LivePanel csrf={c.var.csrf} data={await overview()} />));
  app.get("/activity.json", async (c) => c.json(await readActivity(deps.redis, prefix)));

  app.post("/handlers/:name/:op{pause|resume}", async (c) => {
    const name = c.req.param("name");
    if (c.req.param("op") === "pause") {
      if (!(await listKnownHandlers(deps)).has(name)) return c.text(`no handler named ${name}`, 404);
      await pauseHandler(deps.redis, prefix, name, "console");
      deps.log.info("handler paused", { handler: name, by: "console" });
    } else if (await resumeHandler(deps.redis, prefix, name)) {
      deps.log.info("handler resumed", { handler: name, by: "console" });
    }
    if (c.req.header("hx-request")) return c.html(<LivePanel csrf={c.var.csrf} data={await overview()} />);
    return c.redirect("/ui", 303);
  });

  app.get("/events", async (c) => {
    const q = (c.req.query("q") ?? "").trim().slice(0, 255);
    const trace = { sql: deps.sql, redis: deps.redis, prefix, claimIdleMs: deps.config.CLAIM_IDLE_MS };
    let traces = null;
    if (q) {
      const byId = UUID.test(q) ? await traceEvent(trace, q) : null;
      traces = byId ? [byId] : await traceAggregate(trace, q);
    }
    return c.html(doc(<EventsPage csrf={c.var.csrf} open={auth.open} q={q} traces={traces} />));
  });

  app.route("/dead-letters", deadLetterPages(deps, auth.open));
  return app;
}

/**
 * Scripts from this origin only (no inline script, no eval), no framing (clickjacking), no
 * caching of pages that show customer data, and no referrer leaving the console.
 */
const securityHeaders: MiddlewareHandler = async function consoleSecurityHeaders(c, next) {
  await next();
  c.header("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'");
  c.header("X-Frame-Options", "DENY");
  c.header("X-Content-Type-Options", "nosniff");
  c.header("Referrer-Policy", "same-origin");
  if (!c.req.path.startsWith("/ui/assets/")) c.header("Cache-Control", "no-store");
};
