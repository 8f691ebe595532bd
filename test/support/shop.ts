import { expect } from "bun:test";
import { waitFor } from "./context.ts";
import type { TestApi } from "./api.ts";

/** An order body as in seed 000_2e0d5e355d73f88d.txt, for `items`. */
export function orderBody(tenantId: string, items: { productId: string; quantity: number; unitPrice?: number }[], extra: Record<string, unknown> = {}) {
  return {
    tenantId,
    customerId: "customer-456",
    customerEmail: "customer@example.com",
    items,
    shippingAddress: { firstName: "John", lastName: "Doe", address1: "123 Main St", city: "Istanbul", postalCode: "34000", country: "TR" },
    ...extra,
  };
}

export async function createProduct(api: TestApi, tenantId: string, sku: string, stock: number, price = 10): Promise<{ id: string; stock: number }> {
  const res = await api.call("POST", "/products", { tenantId, sku, name: `Product ${sku}`, price, stock });
  expect(res.status).toBe(201);
  return res.body;
}

export async function createOrder(api: TestApi, tenantId: string, items: { productId: string; quantity: number; unitPrice?: number }[]): Promise<{ id: string; totalAmount: number }> {
  const res = await api.call("POST", "/orders", orderBody(tenantId, items));
  expect(res.status).toBe(201);
  return res.body;
}

/** Polls GET /orders/:id until its status is one of `statuses`; returns the order. */
export async function waitForStatus(api: TestApi, orderId: string, ...statuses: string[]): Promise<any> {
  return waitFor(`order ${orderId} to be ${statuses.join(" or ")}`, async () => {
    const res = await api.call("GET", `/orders/${orderId}`);
    return statuses.includes(res.body?.status) ? res.body : null;
  }, 20_000);
}

export async function stockOf(api: TestApi, productId: string): Promise<number> {
  return (await api.call("GET", `/products/${productId}`)).body.stock;
}

export async function statsOf(api: TestApi, tenantId: string): Promise<any> {
  return (await api.call("GET", `/tenants/${tenantId}/stats`)).body;
}
