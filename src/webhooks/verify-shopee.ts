import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { SignatureCheck } from "./verify-standard.ts";

const HEX_SHA256 = /^[0-9a-f]{64}$/i;

/** What Shopee puts in the Authorization header of a push: hex HMAC-SHA256 of `<callback URL>|<body>`. */
export function signShopeePush(partnerKey: string, callbackUrl: string, body: string | Uint8Array): string {
  return hmac(partnerKey, callbackUrl, body).toString("hex");
}

/**
 * Checks a Shopee Open Platform push: Authorization must be the hex HMAC-SHA256, keyed with the
 * partner key, of the registered callback URL, `|` and the body exactly as received. Compared in
 * constant time; the reason never contains the expected signature.
 */
export function verifyShopeePush(partnerKey: string, callbackUrl: string, body: string | Uint8Array, authorization: string | undefined): SignatureCheck {
  if (!authorization) return { ok: false, reason: "the Authorization header is required" };
  if (!HEX_SHA256.test(authorization)) return { ok: false, reason: "Authorization must be a hex HMAC-SHA256" };
  // Both sides are 32 bytes here: the pattern above fixes the length of the given one.
  const ok = timingSafeEqual(Buffer.from(authorization, "hex"), hmac(partnerKey, callbackUrl, body));
  return ok ? { ok: true } : { ok: false, reason: "the Authorization signature does not match the body" };
}

/** Shopee pushes carry no delivery id: the hex SHA-256 of the body stands in, so a replay is a duplicate. */
export function shopeeWebhookId(body: string): string {
  return createHash("sha256").update(body).digest("hex");
}

function hmac(partnerKey: string, callbackUrl: string, body: string | Uint8Array): Buffer {
  return createHmac("sha256", partnerKey).update(`${callbackUrl}|`).update(body).digest();
}
