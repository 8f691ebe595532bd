// What a chaos run sends besides the fleet workload's orders: signed webhooks (stock updates on
// products no order uses, types the service ignores, replays of earlier deliveries, payments of
// some orders) and events made to fail on purpose, each one's fate known in advance.
import { randomUUID } from "node:crypto";
import type { Sql } from "../../src/db/client.ts";
import { signWebhook } from "../support/webhooks.ts";
import type { ApiClient, ApiResponse } from "./api-client.ts";
import { createProduct, postPayment, unexpected, type PaymentSender, type Product } from "./workload.ts";

/** The WEBHOOK_SECRETS provider of the run. */
export const WEBHOOK_PROVIDER = "chaos";

/**
 * - `stock`: inventory.stock_updated on a product of its own (applied: that stock, then `completed`);
 * - `ignored`: a type the service does not act on (`completed`, result `ignored`);
 * - `replay`: an earlier accepted delivery again, same webhook-id (a 200 duplicate, nothing stored);
 * - `doomedWebhook`: inventory.stock_updated on a product that does not exist (dead-lettered by `webhooks`);
 * - `doomedEvent`: POST /events payment.processed for an order that does not exist (dead-lettered by `payments`).
 */
export type ExtraKind = "stock" | "ignored" | "replay" | "doomedWebhook" | "doomedEvent";

export interface Extra {
  index: number;
  /** From the start of the load. */
  atMs: number;
  kind: ExtraKind;
  /** The webhook-id (webhooks) or the idempotency key (doomedEvent). */
  ref: string;
  body: Record<string, unknown>;
  /** `stock`: the product it sets, whose `stockSetTo` is filled in once the webhook was accepted. */
  product?: Product;
  /** `replay`: the delivery it repeats. */
  of?: Extra;
  /** Set once the API accepted it. */
  accepted?: boolean;
}

const PATTERN: ExtraKind[] = ["stock", "ignored", "stock", "replay", "doomedEvent", "stock", "ignored", "doomedWebhook", "stock", "ignored"];

/**
 * `perSecond` extras a second over the load's duration, in a fixed mix; creates (POST /products)
 * the products the stock updates set, in a tenant no order uses.
 */
export async function prepareExtras(client: ApiClient, sql: Sql, runId: string, durationMs: number, perSecond = 2): Promise<{ extras: Extra[]; tenant: string; products: Product[] }> {
  const tenant = `${runId}-hooks`;
  const count = Math.max(PATTERN.length, Math.round((durationMs / 1000) * perSecond));
  const kinds = Array.from({ length: count }, (_, i) => PATTERN[i % PATTERN.length]!);
  const products = await Promise.all(kinds.flatMap((kind, i) =>
    kind === "stock" ? [createProduct(client, sql, { tenantId: tenant, sku: `hook-${i}`, priceCents: 100, initialStock: 10 })] : []));
  let nextProduct = 0;
  const extras: Extra[] = [];
  for (const [index, kind] of kinds.entries()) {
    const atMs = Math.round((index + 0.5) * (durationMs / count));
    const ref = `${runId}-${kind}-${index}`;
    const webhook = (type: string, data: unknown) => ({ type, timestamp: new Date().toISOString(), data });
    if (kind === "stock") {
      const product = products[nextProduct++]!;
      extras.push({ index, atMs, kind, ref, product, body: webhook("inventory.stock_updated", { productId: product.id, stock: 5_000 + index }) });
    } else if (kind === "ignored") {
      extras.push({ index, atMs, kind, ref, body: webhook("customer.note_added", { customerId: `customer-${index}`, note: "chaos" }) });
    } else if (kind === "replay") {
      // The latest delivery accepted before it, looked up when it is sent.
      extras.push({ index, atMs, kind, ref, body: {} });
    } else if (kind === "doomedWebhook") {
      extras.push({ index, atMs, kind, ref, body: webhook("inventory.stock_updated", { productId: randomUUID(), stock: 1 }) });
    } else {
      extras.push({ index, atMs, kind, ref, body: { eventType: "payment.processed", idempotencyKey: ref, payload: { paymentId: ref, orderId: randomUUID(), amount: 1, status: "succeeded" } } });
    }
  }
  return { extras, tenant, products };
}

/** Sends every extra at its time from `startedAt`; returns the problems met (an extra not accepted). */
export async function driveExtras(client: ApiClient, key: Buffer, extras: Extra[], startedAt: number): Promise<string[]> {
  const problems: string[] = [];
  await Promise.all(extras.map(async (x) => {
    await Bun.sleep(Math.max(0, startedAt + x.atMs - Date.now()));
    try {
      if (!(await sendExtra(client, key, extras, x))) return;
      x.accepted = true;
      if (x.product) x.product.stockSetTo = (x.body.data as { stock: number }).stock;
    } catch (err) {
      problems.push(`${x.kind} ${x.ref}: ${(err as Error).message}`);
    }
  }));
  return problems;
}

// False when there was nothing to send (a replay before any delivery was accepted).
async function sendExtra(client: ApiClient, key: Buffer, extras: Extra[], x: Extra): Promise<boolean> {
  if (x.kind === "doomedEvent") {
    const res = await client.request("POST", "/events", x.body);
    if (!accepted(res)) throw unexpected(res, "POST /events");
    return true;
  }
  if (x.kind === "replay") {
    x.of = extras.findLast((e) => e.index < x.index && e.accepted && (e.kind === "stock" || e.kind === "ignored"));
    if (!x.of) return false;
    const res = await postWebhook(client, key, x.of.ref, x.of.body);
    if (res.status !== 200 || res.body?.duplicate !== true) throw unexpected(res, `replay of webhook ${x.of.ref}`);
    return true;
  }
  const res = await postWebhook(client, key, x.ref, x.body);
  if (!accepted(res)) throw unexpected(res, `webhook ${x.ref}`);
  return true;
}

/** A Standard Webhooks delivery, signed now; sent again after a fault with the same id and signature. */
export function postWebhook(client: ApiClient, key: Buffer, webhookId: string, body: unknown): Promise<ApiResponse> {
  return client.request("POST", `/webhooks/${WEBHOOK_PROVIDER}`, body, signWebhook(key, JSON.stringify(body), webhookId));
}

// 202; or the 200 duplicate of a request sent again after its first attempt committed.
const accepted = (res: ApiResponse) => res.status === 202 || (res.status === 200 && res.body?.duplicate === true && res.attempts > 1);

export interface PaymentWebhook {
  webhookId: string;
  paymentId: string;
  accepted: boolean;
}

/**
 * Sends the payment of every other `paid` and `paidEarly` order as a payment.succeeded webhook
 * instead of POST /orders/:id/payments: the same paymentId, so the same single payment.processed
 * event and the same expected outcome. The rest go through the API.
 */
export function webhookPayments(key: Buffer, runId: string): { send: PaymentSender; sent: PaymentWebhook[] } {
  const sent: PaymentWebhook[] = [];
  const send: PaymentSender = async (client, o, step) => {
    if (!((o.kind === "paid" || o.kind === "paidEarly") && o.index % 2 === 0 && !step.repeat)) return postPayment(client, o, step);
    const record: PaymentWebhook = { webhookId: `${runId}-pay-${step.paymentId}`, paymentId: step.paymentId, accepted: false };
    sent.push(record);
    const body = { type: "payment.succeeded", timestamp: new Date().toISOString(), data: { orderId: o.id, paymentId: step.paymentId, amount: step.amount } };
    const res = await postWebhook(client, key, record.webhookId, body);
    if (!accepted(res)) throw unexpected(res, `payment webhook ${record.webhookId}`);
    record.accepted = true;
  };
  return { send, sent };
}
