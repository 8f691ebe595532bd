import { createHmac, timingSafeEqual } from "node:crypto";

/** Standard Webhooks replay protection: a timestamp further than this from now, either way, is refused. */
export const WEBHOOK_TOLERANCE_S = 5 * 60;

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

export interface StandardHeaders {
  id: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
}

const UNIX_SECONDS = /^\d{1,12}$/;

/** The base64 HMAC-SHA256 of `<id>.<timestamp>.<body>`: what follows `v1,` in webhook-signature. */
export function signStandardWebhook(key: Buffer, id: string, timestamp: number | string, body: string | Uint8Array): string {
  return hmac(key, id, String(timestamp), body).toString("base64");
}

/** True when `timestampS` (Unix seconds) is within WEBHOOK_TOLERANCE_S of `nowMs`, in either direction. */
export function withinTolerance(timestampS: number, nowMs = Date.now()): boolean {
  return Math.abs(nowMs / 1000 - timestampS) <= WEBHOOK_TOLERANCE_S;
}

/**
 * Checks a Standard Webhooks delivery against `key`: all three headers present, the timestamp
 * within the tolerance, and at least one `v1,` entry of webhook-signature equal to the HMAC of
 * the body exactly as received (pass the bytes: decoding first would drop a BOM or mend bad
 * UTF-8). Compared in constant time; the reason never contains the expected signature.
 */
export function verifyStandardWebhook(key: Buffer, headers: StandardHeaders, body: string | Uint8Array, nowMs = Date.now()): SignatureCheck {
  const { id, timestamp, signature } = headers;
  if (!id || !timestamp || !signature) return fail("the webhook-id, webhook-timestamp and webhook-signature headers are required");
  if (!UNIX_SECONDS.test(timestamp)) return fail("webhook-timestamp must be Unix time in seconds");
  if (!withinTolerance(Number(timestamp), nowMs)) return fail(`webhook-timestamp is more than ${WEBHOOK_TOLERANCE_S / 60} minutes from the server's clock`);
  const expected = hmac(key, id, timestamp, body);
  // Several entries are allowed (key rotation); entries of other versions are skipped, not errors.
  for (const entry of signature.split(" ")) {
    const comma = entry.indexOf(",");
    if (comma < 0 || entry.slice(0, comma) !== "v1") continue;
    const given = Buffer.from(entry.slice(comma + 1), "base64");
    if (given.length === expected.length && timingSafeEqual(given, expected)) return { ok: true };
  }
  return fail("no v1 entry of webhook-signature matches the body");
}

function hmac(key: Buffer, id: string, timestamp: string, body: string | Uint8Array): Buffer {
  return createHmac("sha256", key).update(`${id}.${timestamp}.`).update(body).digest();
}

const fail = (reason: string): SignatureCheck => ({ ok: false, reason });
