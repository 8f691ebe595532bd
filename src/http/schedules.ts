import {
  checkSchedule, deleteSchedule, getSchedule, listSchedules, saveSchedule, ScheduleError, setSchedulePaused,
} from "../engine/index.ts";
import { eventPayloadSchema, type EVENT_TYPES } from "../events/catalog.ts";
import type { AppDeps } from "./app.ts";
import {
  deleteScheduleRoute, getScheduleRoute, listSchedulesRoute, pauseScheduleRoute, putScheduleRoute, resumeScheduleRoute,
} from "./contract/schedules.ts";
import { invalid, notFound } from "./errors.ts";
import { openApiRoutes } from "./validate.ts";

/**
 * Recurring schedules (admin). Those declared in code are written at every start; these manage
 * them and add more. A schedule writes one event per due time across the fleet.
 */
export function scheduleRoutes(deps: AppDeps) {
  const pausing = (paused: boolean) => async (name: string) => {
    const state = await setSchedulePaused(deps.sql, name, paused);
    if (!state) throw notFound("schedule");
    return state;
  };
  const pause = pausing(true);
  const resume = pausing(false);
  return openApiRoutes()
    .openapi(listSchedulesRoute, async (c) => c.json({ items: await listSchedules(deps.sql) }, 200))
    .openapi(getScheduleRoute, async (c) => {
      const found = await getSchedule(deps.sql, c.req.valid("param").name);
      if (!found) throw notFound("schedule");
      return c.json(found, 200);
    })
    .openapi(putScheduleRoute, async (c) => {
      const { name } = c.req.valid("param");
      const body = c.req.valid("json");
      const eventType = body.eventType as (typeof EVENT_TYPES)[number];
      const checked = eventPayloadSchema(eventType).safeParse(body.payload);
      if (!checked.success) throw invalid(checked.error.issues.map((i) => ({ path: ["payload", ...i.path.map(String)].join("."), message: i.message })));
      const def = { name, ...body };
      try {
        checkSchedule(def);
      } catch (err) {
        if (err instanceof ScheduleError) throw invalid([{ path: err.field, message: err.message }]);
        throw err;
      }
      const existed = (await getSchedule(deps.sql, name)) !== undefined;
      const saved = await saveSchedule(deps.sql, def, "api");
      return existed ? c.json(saved, 200) : c.json(saved, 201);
    })
    .openapi(deleteScheduleRoute, async (c) => {
      if (!(await deleteSchedule(deps.sql, c.req.valid("param").name))) throw notFound("schedule");
      return c.body(null, 204);
    })
    .openapi(pauseScheduleRoute, async (c) => c.json(await pause(c.req.valid("param").name), 200))
    .openapi(resumeScheduleRoute, async (c) => c.json(await resume(c.req.valid("param").name), 200));
}
