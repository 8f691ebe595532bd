import { eq, sql } from "drizzle-orm";
import type { ShopContext, Tx } from "../db/client.ts";
import { orders, products } from "../db/schema.ts";
import { differsFromFirst, paymentEventKey } from "../orders/submit-payment.ts";
import { isAppliedType, webhookData, type AppliedType } from "./parse-webhook.ts";
import { allowsTenant, allowsType, type WebhookScopes } from "./scopes.ts";
import type { WebhookResult, WebhookRow } from "./webhook-store.ts";
import { UnrecoverableError } from "../engine/index.ts";

type Data<T extends AppliedType> = ReturnType<(typeof webhookData)[T]["parse"]>;

type Ctx = Pick<ShopContext, "tx" | "writeEvent">;
type Webhook = Pick<WebhookRow, "provider" | "eventType" | "rawBody">;

/**
 * Applies a stored webhook inside the handler's transaction: `applied` for the types the service
 * acts on, `ignored` for any other. The provider's WEBHOOK_SCOPES are checked again here: its type
 * (the scope may have narrowed since the webhook was received) and the tenant of the product or
 * order it names, which only the database knows. Data that can never apply (an unknown product or
 * order, a body that no longer parses, a type or tenant out of scope) is an UnrecoverableError;
 * anything else may be retried.
 */
export async function applyWebhook(ctx: Ctx, webhook: Webhook, scopes: WebhookScopes): Promise<WebhookResult> {
  const { provider, eventType: type } = webhook;
  if (!allowsType(scopes, provider, type)) throw new UnrecoverableError(`provider ${provider} may not send ${type} webhooks (WEBHOOK_SCOPES)`);
  if (!isAppliedType(type)) return "ignored";
  const data = readData(type, webhook.rawBody);
  const inScope = (tenantId: string) => {
    if (!allowsTenant(scopes, provider, tenantId)) throw new UnrecoverableError(`provider ${provider} may not act for tenant ${tenantId} (WEBHOOK_SCOPES)`);
  };
  switch (type) {
    case "inventory.stock_updated":
      return setProductStock(ctx.tx, data as Data<typeof type>, inScope);
    case "inventory.price_updated":
      return setProductPrice(ctx.tx, data as Data<typeof type>, inScope);
    case "payment.succeeded":
      return submitWebhookPayment(ctx, data as Data<typeof type>, inScope);
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

type InScope = (tenantId: string) => void;

/** The product's tenant, checked against the scope before anything is written. */
async function checkProduct(tx: Tx, productId: string, inScope: InScope): Promise<void> {
  const [product] = await tx.select({ tenantId: products.tenantId }).from(products).where(eq(products.id, productId));
  if (!product) throw new UnrecoverableError(`product ${productId} does not exist`);
  inScope(product.tenantId);
}

async function setProductStock(tx: Tx, d: Data<"inventory.stock_updated">, inScope: InScope): Promise<WebhookResult> {
  await checkProduct(tx, d.productId, inScope);
  await tx.update(products).set({ stock: d.stock, updatedAt: sql`now()` }).where(eq(products.id, d.productId));
  return "applied";
}

async function setProductPrice(tx: Tx, d: Data<"inventory.price_updated">, inScope: InScope): Promise<WebhookResult> {
  await checkProduct(tx, d.productId, inScope);
  await tx.update(products).set({ price: d.price, updatedAt: sql`now()` }).where(eq(products.id, d.productId));
  return "applied";
}

/**
 * The same path as POST /orders/:id/payments: one `payment.processed` event per paymentId (the
 * payments handler records it). A paymentId already seen with the same order and amount is that
 * payment again; with another order, amount or status it can never apply.
 */
async function submitWebhookPayment({ tx, writeEvent }: Ctx, d: Data<"payment.succeeded">, inScope: InScope): Promise<WebhookResult> {
  const [order] = await tx.select({ id: orders.id, tenantId: orders.tenantId }).from(orders).where(eq(orders.id, d.orderId));
  if (!order) throw new UnrecoverableError(`order ${d.orderId} does not exist`);
  inScope(order.tenantId);
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
