import { Hono } from "hono";
import { z } from "zod";
import {
  CATCH_UPS, checkSchedule, deleteSchedule, getSchedule, listSchedules, saveSchedule, ScheduleError, setSchedulePaused,
} from "../engine/index.ts";
import { EVENT_TYPES, eventPayloadSchema, isEventType } from "../events/catalog.ts";
import { line, storableJson } from "../lib/validation.ts";
import type { AppDeps } from "./app.ts";
import { invalid, notFound } from "./errors.ts";
import { requireJson, validate } from "./validate.ts";

const nameParam = z.strictObject({ name: z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/, "1 to 100 letters, digits, and . _ : -") });

const definition = z.strictObject({
  /** croner syntax with seconds. */
  cron: line(200),
  timezone: line(100).optional(),
  eventType: z.string().refine(isEventType, { message: `unknown event type; known: ${EVENT_TYPES.join(", ")}` }),
  payload: storableJson,
  catchUp: z.enum(CATCH_UPS).optional(),
});

/**
 * Recurring schedules (admin). Those declared in code are written at every start; these manage
 * them and add more. A schedule writes one event per due time across the fleet.
 */
export function scheduleRoutes(deps: AppDeps): Hono {
  return new Hono()
    .get("/", async (c) => c.json({ items: await listSchedules(deps.sql) }))
    .get("/:name", validate("param", nameParam), async (c) => {
      const found = await getSchedule(deps.sql, c.req.valid("param").name);
      if (!found) throw notFound("schedule");
      return c.json(found);
    })
    .put("/:name", validate("param", nameParam), requireJson, validate("json", definition), async (c) => {
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
      return c.json(await saveSchedule(deps.sql, def, "api"), existed ? 200 : 201);
    })
    .delete("/:name", validate("param", nameParam), async (c) => {
      if (!(await deleteSchedule(deps.sql, c.req.valid("param").name))) throw notFound("schedule");
      return c.body(null, 204);
    })
    .post("/:name/:action{pause|resume}", validate("param", nameParam.extend({ action: z.enum(["pause", "resume"]) })), async (c) => {
      const { name, action } = c.req.valid("param");
      const state = await setSchedulePaused(deps.sql, name, action === "pause");
      if (!state) throw notFound("schedule");
      return c.json(state);
    });
}
