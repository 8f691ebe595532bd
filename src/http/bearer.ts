import { createHash, timingSafeEqual } from "node:crypto";
import type { Context } from "hono";

/**
 * The token of `Authorization: Bearer <token>` (RFC 6750 token68 characters only), or undefined
 * when the header is missing or anything else.
 */
export function bearerToken(c: Context): string | undefined {
  const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(c.req.header("authorization") ?? "");
  return match?.[1];
}

/** Constant-time equality of two secrets of any length (their SHA-256 digests are compared). */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** Whether the request carries ADMIN_TOKEN; never true when no token is configured. */
export function isAdminRequest(c: Context, adminToken: string | undefined): boolean {
  const token = bearerToken(c);
  return adminToken !== undefined && token !== undefined && sameSecret(token, adminToken);
}
