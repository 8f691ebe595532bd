import type { Db } from "../db/client.ts";
import { saveIdempotentResponse, takeIdempotencyKey, type StoredResponse } from "../db/idempotency-keys.ts";
import { orderItems, orders } from "../db/schema.ts";
import { fromCents } from "../lib/validation.ts";
import { orderView } from "./order-store.ts";
import { orderTotalCents, priceOrderLines, type RequestedLine } from "./price-lines.ts";
import { commitWithEvents, writeEvent, type Waker } from "../engine/index.ts";

interface Address {
  firstName: string;
  lastName: string;
  address1: string;
  address2?: string | undefined;
  city: string;
  postalCode: string;
  country: string;
}

export interface NewOrder {
  tenantId: string;
  customerId: string;
  customerEmail: string;
  items: RequestedLine[];
  shippingAddress: Address;
  billingAddress?: Address | undefined;
}

/** How long an Idempotency-Key of POST /orders holds (README); after that the same key is a new order. */
export const IDEMPOTENCY_KEY_TTL_MS = 24 * 3_600_000;

// Per tenant: two shops' clients choosing the same key never see each other's order.
const scopeOf = (tenantId: string) => `tenant:${tenantId}:POST /orders`;

/**
 * Writes the order, its lines (priced from the catalog, see priceOrderLines) and its
 * `order.created` event in one transaction. With an idempotency key (per tenant, kept
 * IDEMPOTENCY_KEY_TTL_MS), a repeat of the same request returns the first response and writes nothing.
 */
export async function createOrder(db: Db, relay: Waker | undefined, input: NewOrder, idempotency?: { key: string; requestHash: string }): Promise<StoredResponse> {
  return commitWithEvents(db, relay, async (tx) => {
    if (idempotency) {
      const prior = await takeIdempotencyKey(tx, scopeOf(input.tenantId), idempotency.key, idempotency.requestHash, IDEMPOTENCY_KEY_TTL_MS);
      if (prior) return prior;
    }
    const items = await priceOrderLines(tx, input.tenantId, input.items);
    const [order] = await tx.insert(orders).values({
      tenantId: input.tenantId,
      customerId: input.customerId,
      customerEmail: input.customerEmail,
      totalAmount: fromCents(orderTotalCents(items)),
      shippingAddress: input.shippingAddress,
      billingAddress: input.billingAddress ?? null,
    }).returning();
    const lines = await tx.insert(orderItems).values(items.map((item, i) => ({ orderId: order!.id, line: i + 1, ...item }))).returning();
    await writeEvent(tx, {
      eventType: "order.created",
      aggregateId: order!.id,
      tenantId: order!.tenantId,
      idempotencyKey: `orderstream:order.created:${order!.id}`,
      payload: {
        orderId: order!.id,
        orderNumber: order!.orderNumber,
        tenantId: order!.tenantId,
        customerId: order!.customerId,
        customerEmail: order!.customerEmail,
        totalAmount: order!.totalAmount,
        items,
        shippingAddress: input.shippingAddress,
        ...(input.billingAddress ? { billingAddress: input.billingAddress } : {}),
        createdAt: order!.createdAt.toISOString(),
      },
    });
    const created = { statusCode: 201, response: orderView(order!, lines) };
    if (idempotency) await saveIdempotentResponse(tx, scopeOf(input.tenantId), idempotency.key, created);
    return created;
  });
}
