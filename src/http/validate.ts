import { zValidator } from "@hono/zod-validator";
import type { MiddlewareHandler } from "hono";
import type { z } from "zod";
import { invalid, issuesToDetails } from "./errors.ts";

type Target = "json" | "query" | "param" | "header";

const ROOT: Record<Target, string> = { json: "(body)", query: "(query)", param: "(path)", header: "(headers)" };

/**
 * Validates one part of the request with `schema`; a failure is a 400 `validation_failed` whose
 * details name each field (`items.0.quantity`).
 */
export function validate<T extends Target, S extends z.ZodType>(target: T, schema: S) {
  return zValidator(target, schema, (result) => {
    if (!result.success) throw invalid(issuesToDetails(result.error.issues, ROOT[target]));
  });
}

/** JSON bodies only: a body sent as a form or without a type is refused with a clear message. */
export const requireJson: MiddlewareHandler = async (c, next) => {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/([\w.-]+\+)?json\s*(;|$)/i.test(type)) {
    throw invalid([{ path: "(body)", message: "expected a JSON body with Content-Type: application/json" }], "the request body must be JSON");
  }
  await next();
};

