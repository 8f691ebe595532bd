import { createHmac, randomBytes } from "node:crypto";
import type { Contract } from "../support/contract.ts";
import type { Req } from "./cases.ts";

export interface Sent { status: number; contentType: string | null; violations: string | null; body: string }

/** Sends `req` to `base`; a request to be signed gets Standard Webhooks headers over its exact body. */
export async function send(base: string, req: Req, webhookSecret: Buffer): Promise<Sent> {
  const headers: Record<string, string> = { ...req.headers };
  const body = req.raw ?? (req.json !== undefined ? JSON.stringify(req.json) : undefined);
  if (req.json !== undefined) headers["content-type"] ??= "application/json";
  if (req.sign) {
    const id = req.webhookId ?? `msg_${randomBytes(8).toString("hex")}`;
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = createHmac("sha256", webhookSecret).update(`${id}.${timestamp}.${body ?? ""}`).digest("base64");
    Object.assign(headers, { "webhook-id": id, "webhook-timestamp": timestamp, "webhook-signature": `v1,${signature}` });
  }
  const query = req.query.length ? `?${new URLSearchParams(req.query)}` : "";
  const res = await fetch(`${base}${req.path}${query}`, { method: req.method, headers, body, signal: AbortSignal.timeout(20_000) });
  return { status: res.status, contentType: res.headers.get("content-type"), violations: res.headers.get("sl-violations"), body: await res.text() };
}

/** What is wrong with the answer to a valid request sent through Prism. */
export function checkValid(contract: Contract, req: Req, res: Sent): string[] {
  const problems: string[] = [];
  if (res.contentType?.startsWith("application/problem+json")) {
    // Prism answered itself: the request (422, 401) or the service's response (500 VIOLATIONS) broke the document.
    problems.push(`Prism refused it (${res.status}): ${res.body.slice(0, 600)}`);
  } else {
    if (res.status >= 500) problems.push(`a ${res.status}: ${res.body.slice(0, 300)}`);
    problems.push(...contract.check(req.method, req.path, res));
  }
  if (res.violations) problems.push(`Prism reported violations: ${res.violations.slice(0, 600)}`);
  return problems;
}

/**
 * Whether Prism can carry `req` unchanged: it parses a JSON body and sends it re-serialised, so a
 * body that is not JSON, or JSON null or a string (which it would send without quotes, or not at
 * all), goes straight to the service instead; so does a path with a broken percent-escape, which
 * ends the Prism process (an uncaught URIError).
 */
export function prismCarries(req: Req): boolean {
  try {
    decodeURIComponent(req.path);
  } catch {
    return false;
  }
  return req.raw === undefined ? req.json !== null && typeof req.json !== "string" : !/json/i.test(req.headers["content-type"] ?? "");
}

/** Violations Prism found in the service's response (not the expected ones of an invalid request). */
function responseViolations(res: Sent): string[] {
  if (!res.violations) return [];
  // A long list arrives cut short ("Too many violations! [..."): each entry is found by its location.
  const found = res.violations.match(/\{"location":\["response"[^}]*\}/g) ?? [];
  return found.map((v) => `Prism: ${v.slice(0, 300)}`);
}

/** What is wrong with the answer to an invalid request (through Prism without --errors, or straight to the service). */
export function checkInvalid(contract: Contract, req: Req, res: Sent): string[] {
  const problems: string[] = responseViolations(res);
  if (res.contentType?.startsWith("application/problem+json")) return [`Prism answered itself (${res.status}): ${res.body.slice(0, 300)}`];
  if (res.status >= 500) problems.push(`a ${res.status} for ${req.broken}: ${res.body.slice(0, 300)}`);
  else if (res.status < 400) problems.push(`accepted (${res.status}) with ${req.broken}: ${res.body.slice(0, 300)}`);
  problems.push(...contract.check(req.method, req.path, res));
  return problems;
}

/** Runs `work` over `items` with at most `concurrency` at a time, stopping early after `deadline`. */
export async function pool<T>(items: T[], concurrency: number, deadline: number, work: (item: T) => Promise<void>): Promise<number> {
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < items.length && Date.now() < deadline) {
      const item = items[next++]!;
      await work(item);
      done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return done;
}
