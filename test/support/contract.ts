import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Hono } from "hono";
import { openApiDocument } from "../../src/http/openapi.ts";

// Checks a response against the app's own OpenAPI document: the status is documented for the
// operation, the content type is the documented one, and the body validates against its schema.
// Wired into the test helper (support/api.ts), so every HTTP test checks the contract too.

type Doc = ReturnType<typeof openApiDocument>;
type Operation = { responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> };

export interface Contract {
  /** Problems with this response, or an empty list when it conforms (or no operation matches). */
  check(method: string, path: string, res: { status: number; contentType: string | null; body: string }): string[];
  document: Doc;
}

const escape = (s: string) => s.replaceAll("~", "~0").replaceAll("/", "~1");

interface Route { method: string; template: string; pattern: RegExp; params: number; op: Operation }

/** The operations of `doc`, matchable by method and concrete path (literal segments win over parameters). */
function routesOf(doc: Doc): Route[] {
  const routes: Route[] = [];
  for (const [template, item] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(item as Record<string, Operation>)) {
      const params = (template.match(/\{[^}]+\}/g) ?? []).length;
      // Hono is strict about a trailing slash: `/products/` is no route (a 404), not `/products`.
      const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`);
      routes.push({ method: method.toUpperCase(), template, pattern, params, op });
    }
  }
  return routes.sort((a, b) => a.params - b.params);
}

const cache = new Map<string, Contract>();

/** The contract of `app` (built once per distinct document). */
export function contractOf(app: Hono<any, any, any>): Contract {
  return contractFor(openApiDocument(app as unknown as OpenAPIHono));
}

/** The contract a document describes (built once per distinct document). */
export function contractFor(document: Doc): Contract {
  const key = JSON.stringify(document);
  const cached = cache.get(key);
  if (cached) return cached;
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  ajv.addSchema({ ...document, $id: "openapi" } as object);
  const routes = routesOf(document);
  const validators = new Map<string, ReturnType<typeof ajv.compile>>();
  const contract: Contract = {
    document,
    check(method, path, res) {
      const route = routes.find((r) => r.method === method.toUpperCase() && r.pattern.test(path));
      if (!route) return [];
      const where = `${method.toUpperCase()} ${route.template} -> ${res.status}`;
      const documented = route.op.responses?.[String(res.status)];
      if (!documented) return [`${where}: status not documented (documented: ${Object.keys(route.op.responses ?? {}).join(", ")})`];
      const content = documented.content;
      if (!content) return res.body === "" ? [] : [`${where}: documented without a body, got ${res.body.slice(0, 200)}`];
      const mediaType = (res.contentType ?? "").split(";")[0]!.trim().toLowerCase();
      if (!(mediaType in content)) return [`${where}: content type ${res.contentType} not documented (${Object.keys(content).join(", ")})`];
      if (!mediaType.endsWith("json")) return [];
      let body: unknown;
      try {
        body = JSON.parse(res.body);
      } catch {
        return [`${where}: body is not JSON: ${res.body.slice(0, 200)}`];
      }
      const ref = `openapi#/paths/${escape(route.template)}/${method.toLowerCase()}/responses/${res.status}/content/${escape(mediaType)}/schema`;
      let validate = validators.get(ref);
      if (!validate) validators.set(ref, (validate = ajv.compile({ $ref: ref })));
      if (validate(body)) return [];
      const errors = (validate.errors ?? []).map((e) => `${e.instancePath || "(root)"} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ""}`);
      return [`${where}: body does not match the documented schema: ${errors.join("; ")}; body: ${res.body.slice(0, 300)}`];
    },
  };
  cache.set(key, contract);
  return contract;
}

/**
 * Wraps `app.request` so every response it gives is checked against the document; a response that
 * does not conform fails the test that received it.
 */
export function checkContract(app: Hono<any, any, any>): void {
  const contract = contractOf(app);
  const request = app.request.bind(app);
  app.request = (async (input: string | Request | URL, init?: RequestInit, ...rest: unknown[]) => {
    const res = await (request as (...a: unknown[]) => Promise<Response>)(input, init, ...rest);
    const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url, "http://localhost");
    const method = init?.method ?? (input instanceof Request ? input.method : "GET");
    const problems = contract.check(method, url.pathname, { status: res.status, contentType: res.headers.get("content-type"), body: await res.clone().text() });
    if (problems.length) throw new Error(`response does not match the OpenAPI document: ${problems.join(" | ")}`);
    return res;
  }) as typeof app.request;
}
