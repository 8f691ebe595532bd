import { Hono, type Context } from "hono";
import type { Child } from "hono/jsx";
import type { AppDeps } from "../http/app.ts";
import type { ConsoleEnv } from "./auth.ts";
import { BulkPanel, DeadLetterRow, DeadLettersPage } from "./pages/dead-letters.tsx";
import { DeadLetterPage } from "./pages/events.tsx";
import { doc, Layout } from "./pages/layout.tsx";
import {
  applyToDeadLetters, deadLetterFacets, decodeCursor, deleteDeadLetter, getDeadLetter, listDeadLetters, PAYLOAD_PATH, retryDeadLetter, traceEvent,
  type DeadLetterQuery, type SearchField,
} from "./reads/index.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PAGE_SIZE = 50;
const FIELDS = new Set(["any", "eventId", "aggregateId", "tenantId", "error", "payload"]);
const STATUSES = new Set(["open", "retried", "discarded", "resolved", "any"]);

/** The console's dead letters: list, search, detail, retry and delete (one, selected, or all matching after a dry run). */
export function deadLetterPages(deps: AppDeps, open: boolean): Hono<ConsoleEnv> {
  const prefix = deps.config.STREAM_PREFIX;
  const admin = { sql: deps.sql, redis: deps.redis, prefix, log: deps.log };
  const app = new Hono<ConsoleEnv>();

  app.get("/", async (c) => {
    const { search, path } = readSearch((name) => c.req.query(name));
    const cursor = decodeCursor(c.req.query("cursor") ?? "") ?? undefined;
    const [found, facets] = await Promise.all([listDeadLetters(deps.sql, { ...search, limit: PAGE_SIZE, cursor }), deadLetterFacets(deps.sql)]);
    const nextHref = found.nextCursor ? nextPage(new URL(c.req.url), found.nextCursor) : null;
    return c.html(doc(<DeadLettersPage csrf={c.var.csrf} open={open} view={{ search, path, facets, items: found.items, nextCursor: found.nextCursor, nextHref }} />));
  });

  app.post("/bulk", async (c) => {
    const form = await c.req.parseBody({ all: true });
    const one = (name: string) => (typeof form[name] === "string" ? (form[name] as string) : undefined);
    const op = one("op") ?? "";
    const action = op.startsWith("retry") ? "retry" : op.startsWith("delete") ? "delete" : null;
    if (!action) return c.text("choose retry or delete", 400);
    const { search } = readSearch(one);
    const selected = op.endsWith("-selected");
    const ids = ([] as unknown[]).concat(form.ids ?? []).filter((id): id is string => typeof id === "string" && UUID.test(id)).slice(0, 1_000);
    if (selected && ids.length === 0) return fragment(c, <p class="banner" data-testid="bulk-count">Select some dead letters first.</p>);
    const target = selected ? { ...search, ids } : search;
    const confirmed = one("confirm") === "1";
    const n = await applyToDeadLetters(admin, action === "delete" ? "discard" : "retry", target, { dryRun: !confirmed });
    const panel = <BulkPanel csrf={c.var.csrf} op={op} search={search} ids={selected ? ids : undefined} count={n} done={confirmed} />;
    return fragment(c, panel);
  });

  app.get("/:id", async (c) => {
    const id = c.req.param("id");
    const letter = UUID.test(id) ? await getDeadLetter(deps.sql, id) : undefined;
    if (!letter) return c.html(doc(<Layout title="Not found" csrf={c.var.csrf} open={open}><p>No dead letter with this id.</p></Layout>), 404);
    const [trace, history] = await Promise.all([
      letter.eventId ? traceEvent({ sql: deps.sql, redis: deps.redis, prefix, claimIdleMs: deps.config.CLAIM_IDLE_MS }, letter.eventId) : null,
      letter.eventId ? listDeadLetters(deps.sql, { status: "any", q: letter.eventId, field: "eventId", limit: 100 }).then((r) => r.items) : [],
    ]);
    return c.html(doc(<DeadLetterPage csrf={c.var.csrf} open={open} letter={letter} trace={trace} history={history} />));
  });

  app.post("/:id/:op{retry|delete}", async (c) => {
    const id = c.req.param("id");
    if (!UUID.test(id)) return c.text("no dead letter with this id", 404);
    if (c.req.param("op") === "retry") {
      const result = await retryDeadLetter(admin, id);
      if (result.outcome === "not_found") return c.text("no dead letter with this id", 404);
      if (result.outcome === "no_event") return c.text("this dead letter carried no event id: it cannot be retried, only deleted", 409);
    } else if ((await deleteDeadLetter(admin, id)) === "not_found") {
      return c.text("no dead letter with this id", 404);
    }
    // Retrying or deleting a letter someone else resolved first is not an error: the row shows its state.
    if (!c.req.header("hx-request")) return c.redirect(`/ui/dead-letters/${id}`, 303);
    const [row] = (await listDeadLetters(deps.sql, { status: "any", ids: [id], limit: 1 })).items;
    return c.html(row ? <DeadLetterRow d={row} csrf={c.var.csrf} /> : <tr />);
  });

  return app;
}

/**
 * The search from query or form fields. The console is forgiving where the JSON API refuses:
 * an unknown field or status falls back to the default, an event-id search for a non-UUID
 * finds nothing.
 */
function readSearch(get: (name: string) => string | undefined): { search: DeadLetterQuery; path: string } {
  const text = (name: string, max = 500) => {
    const value = get(name)?.trim();
    return value ? value.slice(0, max) : undefined;
  };
  const path = (text("path", 300) ?? "").replace(/^payload\./, "");
  let field = text("field") ?? "any";
  if (field === "payloadField" || (path && field === "any")) field = path ? `payload.${path}` : "payload";
  if (!FIELDS.has(field) && !PAYLOAD_PATH.test(field)) field = "any";
  const status = text("status");
  return {
    search: {
      eventType: text("eventType", 200), handler: text("handler", 200), reason: text("reason", 200),
      status: status && STATUSES.has(status) ? (status as DeadLetterQuery["status"]) : "open",
      q: text("q"), field: field as SearchField,
    },
    path,
  };
}

function nextPage(url: URL, cursor: string): string {
  url.searchParams.set("cursor", cursor);
  return `${url.pathname}${url.search}`;
}

/** htmx swaps the fragment in; a plain form post gets it on a page of its own. */
function fragment(c: Context<ConsoleEnv>, body: Child) {
  if (c.req.header("hx-request")) return c.html(<>{body}</>);
  return c.html(doc(<Layout title="Dead letters" section="dead-letters" csrf={c.var.csrf}>{body}<p><a href="/ui/dead-letters">← dead letters</a></p></Layout>));
}
