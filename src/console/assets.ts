import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Hono } from "hono";

/** What the console's pages load, all from this service: no CDN, so it works without internet. */
const ASSETS: Record<string, { from: string; type: string }> = {
  "htmx.js": { from: "htmx.org/dist/htmx.min.js", type: "text/javascript; charset=utf-8" },
  "uplot.js": { from: "uplot/dist/uPlot.iife.min.js", type: "text/javascript; charset=utf-8" },
  "uplot.css": { from: "uplot/dist/uPlot.min.css", type: "text/css; charset=utf-8" },
  "console.js": { from: "./static/console.js", type: "text/javascript; charset=utf-8" },
  "console.css": { from: "./static/console.css", type: "text/css; charset=utf-8" },
};

/**
 * `GET /ui/assets/<name>`: htmx and uPlot from node_modules (pinned in package.json, so a page and
 * its scripts always match), and the console's own script and styles. Read once, at start-up: a
 * missing file fails the service's start, not a page later. Public: library code and styles only.
 */
export function assetRoutes(): Hono {
  const files = new Map(Object.entries(ASSETS).map(([name, { from, type }]) => {
    const url = from.startsWith("./") ? new URL(from, import.meta.url) : new URL(import.meta.resolve(from));
    return [name, { body: readFileSync(fileURLToPath(url)), type }] as const;
  }));
  return new Hono().get("/:name", (c) => {
    const file = files.get(c.req.param("name"));
    if (!file) return c.notFound();
    return c.body(new Uint8Array(file.body), 200, { "content-type": file.type, "cache-control": "public, max-age=3600", "x-content-type-options": "nosniff" });
  });
}
