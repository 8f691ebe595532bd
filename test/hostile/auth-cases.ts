// Hostile requests against who may do what (API_AUTH=keys, WEBHOOK_SCOPES): forged and missing
// keys, another tenant's key, tampered prices and webhook types a provider may not send. Each is
// refused (401, 403, 404, 409) and changes nothing.
import { randomBytes } from "node:crypto";
import { signStandardWebhook } from "../../src/webhooks/verify-standard.ts";
import { JSON_TYPE, type HostileCase } from "./cases.ts";
import { badTokens } from "./endpoints.ts";

/** One tenant's world: its key and the rows a wrongly accepted request would change. */
export interface TenantWorld {
  tenantId: string;
  key: string;
  productId: string;
  /** The catalog price of productId. */
  price: number;
  orderId: string;
}

export interface AuthFixtures {
  a: TenantWorld;
  b: TenantWorld;
  /** A revoked key of tenant a. */
  revokedKey: string;
  /** The secret of a provider scoped to inventory.stock_updated for tenant a only. */
  stockFeedKey: Buffer;
}

const address = { firstName: "Ada", lastName: "Lovelace", address1: "1 Main St", city: "Berlin", postalCode: "10115", country: "DE" };
const order = (tenantId: string, items: unknown[]) => ({ tenantId, customerId: "cust-h", customerEmail: "h@example.com", items, shippingAddress: address });

/** Every business request of tenant `w`, as its own client would send it. */
function businessRequests(w: TenantWorld): [string, string, unknown?][] {
  return [
    ["POST", "/products", { tenantId: w.tenantId, sku: `H-${randomBytes(3).toString("hex")}`, name: "Hostile", price: 1, stock: 1 }],
    ["GET", `/products/${w.productId}`],
    ["POST", "/orders", order(w.tenantId, [{ productId: w.productId, quantity: 1, unitPrice: w.price }])],
    ["GET", `/orders/${w.orderId}`],
    ["POST", `/orders/${w.orderId}/cancel`, { reason: "hostile" }],
    ["POST", `/orders/${w.orderId}/payments`, { paymentId: `forged-${randomBytes(3).toString("hex")}`, amount: w.price, status: "succeeded" }],
    ["GET", `/tenants/${w.tenantId}/stats`],
  ];
}

const request = (name: string, method: string, path: string, body: unknown, headers: Record<string, string>, expect: number[]): HostileCase => ({
  name, method, path, expect,
  headers: body === undefined ? headers : { ...JSON_TYPE, ...headers },
  ...(body === undefined ? {} : { body: JSON.stringify(body) }),
});

/** No key, a forged, truncated, revoked or misplaced one: 401 on every business route. */
export function missingKeyCases(f: AuthFixtures): HostileCase[] {
  const forged = [
    ["a made-up osk_ key", `osk_${randomBytes(32).toString("base64url")}`],
    ["a key of the wrong length", `osk_${randomBytes(16).toString("base64url")}`],
    ["the key without its prefix", f.a.key.slice(4)],
    ["the key's hash", Buffer.from(f.a.key).toString("hex")],
    ["a revoked key", f.revokedKey],
    ["another prefix", f.a.key.replace(/^osk_/, "sk_")],
  ] as const;
  const headers: [string, Record<string, string>][] = [
    ...badTokens(f.a.key).map(([what, h]) => [`key ${what}`, h] as [string, Record<string, string>]),
    ...forged.map(([what, key]) => [what, { authorization: `Bearer ${key}` }] as [string, Record<string, string>]),
  ];
  return businessRequests(f.a).flatMap(([method, path, body]) =>
    headers.map(([what, h]) => request(`${method} ${path} with ${what}`, method, path, body, h, [401])),
  );
}

/** Tenant b's key on tenant a's rows: 404 for what it names by id, 403 for a body naming tenant a. */
export function otherTenantCases(f: AuthFixtures): HostileCase[] {
  const asB = { authorization: `Bearer ${f.b.key}` };
  return businessRequests(f.a).map(([method, path, body]) => {
    const namesTenantInBody = path === "/products" || path === "/orders";
    return request(`${method} ${path} of tenant a with tenant b's key`, method, path, body, asB, namesTenantInBody ? [403] : [404]);
  });
}

/** Prices that are not the catalog's, on one line or several: 409 price_changed. */
export function tamperedPriceCases(f: AuthFixtures): HostileCase[] {
  const asA = { authorization: `Bearer ${f.a.key}` };
  const { productId, price } = f.a;
  const wrong = [0, 0.01, price - 0.01, price + 0.01, price / 2, price * 100, 9_999_999_999.99, Math.round(price) === price ? price + 1 : Math.round(price)];
  const cases = wrong.map((unitPrice) =>
    request(`POST /orders with unitPrice ${unitPrice} for a product priced ${price}`, "POST", "/orders", order(f.a.tenantId, [{ productId, quantity: 1, unitPrice }]), asA, [409]),
  );
  cases.push(request("POST /orders with one honest and one tampered line", "POST", "/orders", order(f.a.tenantId, [{ productId, quantity: 1, unitPrice: price }, { productId, quantity: 1000, unitPrice: 0.01 }]), asA, [409]));
  cases.push(request("POST /orders with 100 lines at 0.01", "POST", "/orders", order(f.a.tenantId, Array.from({ length: 100 }, () => ({ productId, quantity: 1000, unitPrice: 0.01 }))), asA, [409]));
  return cases;
}

/** Correctly signed webhooks of types the provider is not scoped for: 403, nothing stored. */
export function outOfScopeWebhookCases(f: AuthFixtures, path = "/webhooks/stockfeed"): HostileCase[] {
  const types: [string, unknown][] = [
    ["payment.succeeded", { orderId: f.a.orderId, paymentId: "forged-hook", amount: f.a.price }],
    ["inventory.price_updated", { productId: f.a.productId, price: 0.01 }],
    ["customer.updated", { customerId: "c1" }],
    ["order.cancelled", { orderId: f.a.orderId }],
    ["Inventory.Stock_Updated", { productId: f.a.productId, stock: 1 }],
    ["inventory.stock_updated.v2", { productId: f.a.productId, stock: 1 }],
  ];
  return types.map(([type, data]) => {
    const body = JSON.stringify({ type, data });
    const id = `msg_${randomBytes(8).toString("hex")}`;
    const ts = Math.floor(Date.now() / 1000);
    const headers = { ...JSON_TYPE, "webhook-id": id, "webhook-timestamp": String(ts), "webhook-signature": `v1,${signStandardWebhook(f.stockFeedKey, id, ts, body)}` };
    return { name: `POST ${path} signed, type ${JSON.stringify(type)} out of scope`, method: "POST", path, headers, body, expect: [403] };
  });
}
