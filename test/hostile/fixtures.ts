// The world the hostile requests run against: secrets, and rows a wrongly accepted request would
// change (a product, an order, a stored webhook, an open dead letter).
import { randomBytes, randomUUID } from "node:crypto";
import { expect } from "bun:test";
import type { TestContext } from "../support/context.ts";
import type { Fixtures } from "./endpoints.ts";
import { signStandardWebhook } from "../../src/webhooks/verify-standard.ts";

const key = randomBytes(32);
const otherKey = randomBytes(32);
const adminToken = `hostile-admin-${randomBytes(12).toString("hex")}`;
const partnerKey = `shpk-${randomBytes(12).toString("hex")}`;
const callbackUrl = "https://hostile.example/webhooks/shopee";
/** Trust authentication ignores it; it must never show up in an answer. */
export const DB_PASSWORD = `db-${randomBytes(8).toString("hex")}`;

export const HOSTILE_ENV = {
  ADMIN_TOKEN: adminToken,
  WEBHOOK_SECRETS: `acme=whsec_${key.toString("base64")},other=whsec_${otherKey.toString("base64")}`,
  SHOPEE_PARTNER_KEY: partnerKey,
  SHOPEE_CALLBACK_URL: callbackUrl,
};

export const WEBHOOK_KEYS = { key, otherKey, partnerKey, callbackUrl };

/** What no answer may contain. */
export const SECRETS = [adminToken, key.toString("base64"), otherKey.toString("base64"), key.toString("hex"), partnerKey, DB_PASSWORD];

type Call = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<{ status: number; body: any }>;

export interface WorldFixtures extends Fixtures {
  webhookBody: string;
  webhookHeaders: Record<string, string>;
}

export async function createFixtures(ctx: TestContext, call: Call): Promise<WorldFixtures> {
  const product = await call("POST", "/products", { tenantId: "hostile-shop", sku: "FIXTURE", name: "Fixture", price: 12.5, stock: 100 });
  expect(product.status).toBe(201);
  const order = await call("POST", "/orders", {
    tenantId: "hostile-shop", customerId: "cust-1", customerEmail: "buyer@example.com",
    items: [{ productId: product.body.id, quantity: 1, unitPrice: 12.5 }],
    shippingAddress: { firstName: "Ada", lastName: "Lovelace", address1: "1 Main St", city: "Berlin", postalCode: "10115", country: "DE" },
  });
  expect(order.status).toBe(201);
  const webhookId = "msg_fixture";
  const webhookBody = JSON.stringify({ type: "customer.updated", data: { customerId: "c1" } });
  const ts = Math.floor(Date.now() / 1000);
  const webhookHeaders = {
    "content-type": "application/json", "webhook-id": webhookId, "webhook-timestamp": String(ts),
    "webhook-signature": `v1,${signStandardWebhook(key, webhookId, ts, webhookBody)}`,
  };
  const webhook = await call("POST", "/webhooks/acme", webhookBody, webhookHeaders);
  expect(webhook.status).toBe(202);
  const [dead] = await ctx.sql<{ id: string }[]>`
    insert into dead_letters (event_id, event_type, handler, stream, entry_id, reason, error, attempts, payload)
    values (${randomUUID()}, 'user.created', 'mailer', ${`${ctx.prefix}:user.created`}, '1-0', 'unrecoverable', 'fixture', 1, '{"userId":"u1"}')
    returning id`;
  return { productId: product.body.id, orderId: order.body.id, deadLetterId: dead!.id, webhookId, adminToken, webhookBody, webhookHeaders };
}
