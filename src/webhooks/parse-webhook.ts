import { z } from "zod";
import { InvalidInputError } from "../lib/domain-errors.ts";
import { identifier, issuesToDetails, jsonProblem, line, money } from "../lib/validation.ts";

/** The `data` of each type the service applies; any other type is stored and ignored. */
export const webhookData = {
  "inventory.stock_updated": z.object({ productId: z.uuid(), stock: z.number().int().min(0).max(2_147_483_647) }),
  "inventory.price_updated": z.object({ productId: z.uuid(), price: money }),
  "payment.succeeded": z.object({ orderId: z.uuid(), paymentId: identifier(255), amount: money.refine((v) => v > 0, "must be greater than 0") }),
} satisfies Record<string, z.ZodType>;

export type AppliedType = keyof typeof webhookData;

export function isAppliedType(type: string): type is AppliedType {
  return Object.hasOwn(webhookData, type);
}

// Open objects: senders add fields (Standard Webhooks bodies carry `timestamp` too).
export const envelope = z.object({ type: line(200) });
export const shopeeEnvelope = z.object({ code: z.number().int().min(0).max(1_000_000), timestamp: z.number().int().min(0) });

/** A delivery id as stored and echoed: printable ASCII, so it needs no trimming or escaping. */
export const WEBHOOK_ID = /^[\x21-\x7E]{1,255}$/;

/**
 * A `{type, data}` body, parsed and checked: its type, and for the applied types their data.
 * Throws InvalidInputError naming the field (`data.productId`), also for a body PostgreSQL could not hold.
 */
export function parseWebhookBody(raw: string): { type: string } {
  const body = parseJson(raw);
  const checked = envelope.safeParse(body);
  if (!checked.success) throw new InvalidInputError(issuesToDetails(checked.error.issues));
  const { type } = checked.data;
  if (isAppliedType(type)) {
    const data = z.object({ data: webhookData[type] }).safeParse(body);
    if (!data.success) throw new InvalidInputError(issuesToDetails(data.error.issues));
  }
  return { type };
}

/** A Shopee push body: `code` (the push type) and `timestamp` (Unix seconds) are required. */
export function parseShopeeBody(raw: string): { code: number; timestamp: number } {
  const checked = shopeeEnvelope.safeParse(parseJson(raw));
  if (!checked.success) throw new InvalidInputError(issuesToDetails(checked.error.issues));
  return checked.data;
}

/**
 * The verified body bytes as text. Strict: bytes that are not UTF-8 are refused, not mended with
 * U+FFFD, and a BOM is kept (so JSON.parse refuses it), so the stored text is what was signed.
 */
export function decodeBody(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new InvalidInputError([{ path: "(body)", message: "not valid UTF-8" }], "the request body is not valid UTF-8");
  }
}

function parseJson(raw: string): unknown {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    throw new InvalidInputError([{ path: "(body)", message: "malformed JSON" }], "the request body is not valid JSON");
  }
  const problem = jsonProblem(body);
  if (problem) throw new InvalidInputError([{ path: "(body)", message: problem }]);
  return body;
}
