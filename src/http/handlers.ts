import { readActivity } from "../console/activity.ts";
import { listKnownHandlers } from "../console/known-handlers.ts";
import { byHandler, pauseHandler, readHandlerStates, readPausedHandlers, resumeHandler } from "../console/reads/index.ts";
import type { AppDeps } from "./app.ts";
import { invalid, issuesToDetails, notFound } from "./errors.ts";
import { handlerActivityRoute, listHandlersRoute, PauseBody, pauseHandlerRoute, resumeHandlerRoute } from "./contract/handlers.ts";
import { openApiRoutes } from "./validate.ts";

/**
 * The handlers across the fleet (admin; the guard is applied in app.ts):
 * - `GET /handlers`: each handler with its state per event type, and whether it is paused;
 * - `GET /handlers/activity`: processed and failed per minute, latency p50/p99, for the charts;
 * - `POST /handlers/:name/pause` and `/resume`: the fleet-wide flag every machine honours.
 */
export function handlerRoutes(deps: AppDeps) {
  const { sql, redis } = deps;
  const prefix = deps.config.STREAM_PREFIX;
  return openApiRoutes()
    .openapi(listHandlersRoute, async (c) => {
      const [streams, paused] = await Promise.all([readHandlerStates({ sql, redis, prefix }), readPausedHandlers(redis, prefix)]);
      return c.json({ handlers: byHandler(streams, paused) }, 200);
    })
    .openapi(handlerActivityRoute, async (c) => c.json(await readActivity(redis, prefix, c.req.valid("query")), 200))
    .openapi(pauseHandlerRoute, async (c) => {
      const { name } = c.req.valid("param");
      const by = await optionalBy(c.req.raw);
      if (!(await listKnownHandlers(deps)).has(name)) throw notFound(`handler ${name}`);
      const info = await pauseHandler(redis, prefix, name, by ?? "api");
      deps.log.info("handler paused", { handler: name, by: info.by });
      return c.json({ handler: name, paused: true as const, since: info.since, by: info.by }, 200);
    })
    .openapi(resumeHandlerRoute, async (c) => {
      const { name } = c.req.valid("param");
      const wasPaused = await resumeHandler(redis, prefix, name);
      if (!wasPaused && !(await listKnownHandlers(deps)).has(name)) throw notFound(`handler ${name}`);
      if (wasPaused) deps.log.info("handler resumed", { handler: name });
      return c.json({ handler: name, paused: false as const, wasPaused }, 200);
    });
}

/** The optional JSON body of a pause, `{"by": "<who>"}`; no body is fine. */
async function optionalBy(req: Request): Promise<string | undefined> {
  const text = await req.text();
  if (text.trim() === "") return undefined;
  if (!/^application\/([\w.-]+\+)?json\s*(;|$)/i.test(req.headers.get("content-type") ?? "")) {
    throw invalid([{ path: "(body)", message: "expected a JSON body with Content-Type: application/json, or none" }], "the request body must be JSON");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalid([{ path: "(body)", message: "malformed JSON" }], "the request body is not valid JSON");
  }
  const parsed = PauseBody.safeParse(value);
  if (!parsed.success) throw invalid(issuesToDetails(parsed.error.issues));
  return parsed.data.by;
}
