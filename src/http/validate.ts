import { OpenAPIHono } from "@hono/zod-openapi";
import type { Env, MiddlewareHandler } from "hono";
import { invalid, issuesToDetails, notJsonBody } from "./errors.ts";

type Target = "json" | "query" | "param" | "header" | "cookie" | "form";

const ROOT: Record<Target, string> = { json: "(body)", query: "(query)", param: "(path)", header: "(headers)", cookie: "(cookies)", form: "(body)" };

/**
 * A route group whose routes are validated and documented from one createRoute definition. A
 * failed validation is a 400 `validation_failed` whose details name each field
 * (`items.0.quantity`), the same error every other refusal of the API has.
 */
export function openApiRoutes<E extends Env = Env>(): OpenAPIHono<E> {
  return new OpenAPIHono<E>({
    defaultHook: (result) => {
      if (!result.success) {
        const details = issuesToDetails(result.error.issues, ROOT[result.target as Target] ?? "(request)");
        // Headers arrive lower-cased; the error names them as the document does (Idempotency-Key).
        throw invalid(result.target === "header" ? details.map((d) => ({ ...d, path: headerName(d.path) })) : details);
      }
    },
  });
}

const headerName = (path: string) => path.replace(/(^|-)([a-z])/g, (_, dash: string, letter: string) => dash + letter.toUpperCase());

// The Content-Types @hono/zod-openapi's body validator takes as JSON (its jsonRequestRegex): one
// rule, so a type let through here is never refused by the validator in another way.
const JSON_CONTENT_TYPE = /^application\/([a-z-.]+\+)?json(;\s*[a-zA-Z0-9-]+=([^;]+))*$/i;

/**
 * JSON bodies only: a body sent as a form or without a type is refused with a clear message.
 * Runs before the body's validator (route middleware comes first), so the refusal is always this one.
 */
export const requireJson: MiddlewareHandler = async (c, next) => {
  if (!JSON_CONTENT_TYPE.test(c.req.header("content-type") ?? "")) throw notJsonBody();
  await next();
};
