import { eq, sql } from "drizzle-orm";
import type { ShopContext, Tx } from "../db/client.ts";
import { orders, products } from "../db/schema.ts";
import { differsFromFirst, paymentEventKey } from "../orders/submit-payment.ts";
import { isAppliedType, webhookData, type AppliedType } from "./parse-webhook.ts";
import type { WebhookResult } from "./webhook-store.ts";
import { UnrecoverableError } from "../engine/index.ts";

type Data<T extends AppliedType> = ReturnType<(typeof webhookData)[T]["parse"]>;

/**
 * Applies a stored webhook inside the handler's transaction: `applied` for the types the service
 * acts on, `ignored` for any other. Data that can never apply (an unknown product or order, a
 * body that no longer parses) is an UnrecoverableError; anything else may be retried.
 */
export async function applyWebhook(ctx: Pick<ShopContext, "tx" | "writeEvent">, type: string, rawBody: string): Promise<WebhookResult> {
  if (!isAppliedType(type)) return "ignored";
  const data = readData(type, rawBody);
  switch (type) {
    case "inventory.stock_updated":
      return setProductStock(ctx.tx, data as Data<typeof type>);
    case "inventory.price_updated":
      return setProductPrice(ctx.tx, data as Data<typeof type>);
    case "payment.succeeded":
      return submitWebhookPayment(ctx, data as Data<typeof type>);
  }
}

// Checked at ingestion already; checked again because the row may have been written by hand.
function readData(type: AppliedType, rawBody: string): unknown {
  let body: { data?: unknown };
  try {
    body = JSON.parse(rawBody) as { data?: unknown };
  } catch {
    throw new UnrecoverableError("the stored body is not JSON");
  }
  const checked = webhookData[type].safeParse(body?.data);
  if (!checked.success) throw new UnrecoverableError(`the stored body's data does not match ${type}: ${checked.error.issues.map((i) => i.path.join(".")).join(", ")}`);
  return checked.data;
}

async function setProductStock(tx: Tx, d: Data<"inventory.stock_updated">): Promise<WebhookResult> {
  const updated = await tx.update(products).set({ stock: d.stock, updatedAt: sql`now()` }).where(eq(products.id, d.productId)).returning({ id: products.id });
  if (updated.length === 0) throw new UnrecoverableError(`product ${d.productId} does not exist`);
  return "applied";
}

async function setProductPrice(tx: Tx, d: Data<"inventory.price_updated">): Promise<WebhookResult> {
  const updated = await tx.update(products).set({ price: d.price, updatedAt: sql`now()` }).where(eq(products.id, d.productId)).returning({ id: products.id });
  if (updated.length === 0) throw new UnrecoverableError(`product ${d.productId} does not exist`);
  return "applied";
}

/**
 * The same path as POST /orders/:id/payments: one `payment.processed` event per paymentId (the
 * payments handler records it). A paymentId already seen with the same order and amount is that
 * payment again; with another order, amount or status it can never apply.
 */
async function submitWebhookPayment({ tx, writeEvent }: Pick<ShopContext, "tx" | "writeEvent">, d: Data<"payment.succeeded">): Promise<WebhookResult> {
  const [order] = await tx.select({ id: orders.id, tenantId: orders.tenantId }).from(orders).where(eq(orders.id, d.orderId));
  if (!order) throw new UnrecoverableError(`order ${d.orderId} does not exist`);
  const written = await writeEvent({
    eventType: "payment.processed",
    aggregateId: order.id,
    tenantId: order.tenantId,
    idempotencyKey: paymentEventKey(d.paymentId),
    payload: { paymentId: d.paymentId, orderId: order.id, amount: d.amount, status: "succeeded", processedAt: new Date().toISOString() },
  });
  if (written.duplicate && (await differsFromFirst(tx, written, { paymentId: d.paymentId, orderId: order.id, amount: d.amount, status: "succeeded" }))) {
    throw new UnrecoverableError(`paymentId ${d.paymentId} was already submitted with another order, amount or status`);
  }
  return "applied";
}
