import type { Pools } from "./arbitraries.ts";
import type { Credentials, Req } from "./cases.ts";
import { send } from "./send.ts";
import type { Service } from "./processes.ts";

export const TENANT = "fuzz-tenant";
const HANDLERS = ["inventory", "payments", "notifications", "analytics", "webhooks"];

/**
 * Creates what the generated requests refer to, through the API itself: a tenant API key (and a
 * second one that may be revoked), products, an order, events (one delayed, to be cancelled), a
 * schedule, a stored webhook and a dead letter. Returns the credentials and the pools of known values.
 */
export async function seed(service: Service): Promise<{ creds: Credentials; pools: Pools }> {
  const admin = { authorization: `Bearer ${service.adminToken}` };
  const call = async (req: Omit<Req, "query"> & { query?: [string, string][] }, expected: number[]) => {
    const res = await send(service.url, { query: [], ...req }, service.webhookSecret);
    if (!expected.includes(res.status)) throw new Error(`setup: ${req.method} ${req.path} answered ${res.status}: ${res.body}`);
    return JSON.parse(res.body || "null");
  };
  const key = await call({ method: "POST", path: "/api-keys", headers: admin, json: { tenantId: TENANT } }, [201]);
  const spare = await call({ method: "POST", path: "/api-keys", headers: admin, json: { tenantId: "fuzz-spare" } }, [201]);
  const tenant = { authorization: `Bearer ${key.key}` };
  const products = await Promise.all([1, 2].map((i) =>
    call({ method: "POST", path: "/products", headers: tenant, json: { tenantId: TENANT, sku: `FUZZ-${i}`, name: `Fuzz ${i}`, price: 12.5, stock: 1_000_000 } }, [201])));
  const address = { firstName: "Ada", lastName: "Lovelace", address1: "1 Main St", city: "Istanbul", postalCode: "34000", country: "TR" };
  const order = await call({
    method: "POST", path: "/orders", headers: tenant,
    json: { tenantId: TENANT, customerId: "c1", customerEmail: "ada@example.com", items: [{ productId: products[0].id, quantity: 1 }], shippingAddress: address },
  }, [201]);
  const userCreated = { userId: "u1", email: "ada@example.com", role: "buyer" };
  const event = await call({ method: "POST", path: "/events", headers: admin, json: { eventType: "user.created", tenantId: TENANT, payload: userCreated } }, [202]);
  const delayed = await call({ method: "POST", path: "/events", headers: admin, json: { eventType: "user.created", delayMs: 86_400_000, payload: userCreated } }, [202]);
  await call({
    method: "PUT", path: "/schedules/fuzz-schedule", headers: admin,
    json: { cron: "0 0 3 * * *", eventType: "tenant.created", payload: { tenantId: TENANT, name: "Fuzz", slug: "fuzz" } },
  }, [201]);
  // A stock update that is applied, and a payment for an order nobody has: it fails for good (a dead letter).
  const webhookId = `msg_fuzz_${Date.now()}`;
  await call({ method: "POST", path: "/webhooks/acme", headers: {}, sign: true, webhookId, json: { type: "inventory.stock_updated", data: { productId: products[1].id, stock: 5 } } }, [202]);
  await call({ method: "POST", path: "/webhooks/acme", headers: {}, sign: true, json: { type: "payment.succeeded", data: { orderId: crypto.randomUUID(), paymentId: "p-dead", amount: 1 } } }, [202]);
  let deadLetters: { id: string }[] = [];
  for (let i = 0; i < 100 && deadLetters.length === 0; i++) {
    await Bun.sleep(200);
    deadLetters = (await call({ method: "GET", path: "/dlq", headers: admin }, [200])).items;
  }
  if (!deadLetters.length) throw new Error("setup: no dead letter appeared");

  return {
    creds: { adminToken: service.adminToken, tenantKey: key.key },
    pools: {
      tenantId: [TENANT], productId: products.map((p) => p.id), orderId: [order.id], aggregateId: [order.id],
      eventId: [event.id, delayed.id], deadLetterId: deadLetters.map((d) => d.id), apiKeyId: [spare.id],
      scheduleName: ["fuzz-schedule"], handlerName: HANDLERS, provider: ["acme"], webhookId: [webhookId],
      payload: [userCreated, { tenantId: TENANT, name: "Fuzz", slug: "fuzz" }],
      cron: ["0 0 3 * * *", "0 30 2 * * 1"], timezone: ["UTC", "Europe/Istanbul"], by: ["fuzz"],
      field: ["tenantId", "error", "payload.customerEmail", "any"], q: [TENANT], type: ["inventory.stock_updated", "order.shipped"],
      data: [{ productId: products[1].id, stock: 7 }],
    },
  };
}
