import { html } from "hono/html";
import type { Child } from "hono/jsx";
import { CSRF_FIELD } from "../auth.ts";

export type Section = "overview" | "dead-letters" | "events";

export interface PageProps {
  title: string;
  /** This session's CSRF token; null when a bearer token got the request in. */
  csrf: string | null;
  section?: Section;
  /** The console is open (no ADMIN_TOKEN): said on every page. */
  open?: boolean;
  /** Where to serve assets from, "/ui/assets". */
  children?: Child;
}

const NAV: [Section, string, string][] = [
  ["overview", "Overview", "/ui"],
  ["dead-letters", "Dead letters", "/ui/dead-letters"],
  ["events", "Events", "/ui/events"],
];

/**
 * Every console page: the navigation, the assets (served from node_modules, no CDN) and, for
 * htmx, this session's CSRF token on every request the page makes. No inline script: the
 * Content-Security-Policy allows scripts from this origin only.
 */
export function Layout({ title, csrf, section, open, children }: PageProps) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="htmx-config" content='{"includeIndicatorStyles": false, "allowEval": false}' />
        <title>{`${title} · Orderstream console`}</title>
        <link rel="stylesheet" href="/ui/assets/uplot.css" />
        <link rel="stylesheet" href="/ui/assets/console.css" />
        <script src="/ui/assets/htmx.js" defer></script>
        <script src="/ui/assets/uplot.js" defer></script>
        <script src="/ui/assets/console.js" defer></script>
      </head>
      <body hx-headers={csrf ? JSON.stringify({ "X-CSRF-Token": csrf }) : undefined}>
        <header class="top">
          <a class="brand" href="/ui">Orderstream</a>
          <nav>
            {NAV.map(([key, label, href]) => (
              <a href={href} class={key === section ? "active" : undefined}>{label}</a>
            ))}
          </nav>
          {csrf !== null && !open && (
            <form method="post" action="/ui/logout" class="logout">
              <Csrf token={csrf} />
              <button type="submit" class="link">Log out</button>
            </form>
          )}
        </header>
        {open && <p class="banner warn">ADMIN_TOKEN is not set: this console is open to anyone who can reach it. Set it outside local development.</p>}
        <main>{children}</main>
      </body>
    </html>
  );
}

/** A whole page: the doctype keeps browsers out of quirks mode (where tables ignore the page's font). */
export function doc(page: Child) {
  return html`<!DOCTYPE html>${page}`;
}

/** The CSRF token for a plain form post (htmx sends it as a header too). */
export function Csrf({ token }: { token: string | null }) {
  return token ? <input type="hidden" name={CSRF_FIELD} value={token} /> : null;
}

/** "42 ms", "3.4 s", "5 min", "2 h" */
export function duration(ms: number | null): string {
  if (ms === null) return "–";
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

/** "2026-12-03 09:04:27 UTC" from ISO 8601. */
export function when(iso: string | null): string {
  if (!iso) return "–";
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}

export function count(n: number): string {
  return n.toLocaleString("en-US");
}
