import type { Context, MiddlewareHandler } from "hono";
import { shopeeWebhookId, verifyShopeePush } from "../webhooks/verify-shopee.ts";
import { verifyStandardWebhook, withinTolerance, WEBHOOK_TOLERANCE_S, type SignatureCheck } from "../webhooks/verify-standard.ts";
import { decodeBody, parseShopeeBody, parseWebhookBody, WEBHOOK_ID } from "../webhooks/parse-webhook.ts";
import { storeWebhook, type IncomingWebhook } from "../webhooks/store-webhook.ts";
import { findWebhook, webhookView } from "../webhooks/webhook-store.ts";
import { allowsType } from "../webhooks/scopes.ts";
import type { AppDeps } from "./app.ts";
import { getWebhookRoute, receiveWebhookRoute } from "./contract/webhooks.ts";
import { ApiError, forbidden, invalid, notFound } from "./errors.ts";
import { openApiRoutes } from "./validate.ts";

const SHOPEE = "shopee";
const PROVIDER = /^[a-z0-9][a-z0-9_-]{0,63}$/;

const refuse = (check: SignatureCheck & { ok: false }) => new ApiError(401, "invalid_signature", check.reason);

/**
 * POST /webhooks/:provider: a signed webhook (Standard Webhooks; for `shopee` also a Shopee push)
 * is verified on its raw body, checked, stored with its `webhook.received` event and answered
 * 202 before it is applied. A type outside the provider's WEBHOOK_SCOPES is a 403 and stores
 * nothing (its tenant is checked when it is applied, see applyWebhook). The same delivery id
 * again is a 200 duplicate that stores nothing.
 * GET /webhooks/:provider/:webhookId (admin): the stored row and its status.
 */
export function webhookRoutes(deps: AppDeps, admin: MiddlewareHandler) {
  const { WEBHOOK_SECRETS, WEBHOOK_SCOPES, SHOPEE_PARTNER_KEY, SHOPEE_CALLBACK_URL } = deps.config;
  return openApiRoutes()
    .openapi(receiveWebhookRoute, async (c) => {
      const provider = c.req.param("provider") as string;
      const key = WEBHOOK_SECRETS.get(provider);
      const partnerKey = provider === SHOPEE ? SHOPEE_PARTNER_KEY : undefined;
      if (!key && !partnerKey) throw notFound("webhook provider");
      // A Standard Webhooks delivery names itself by its signature header; anything else sent to
      // /webhooks/shopee is taken for a Shopee push.
      const standard = key !== undefined && (!partnerKey || c.req.header("webhook-signature") !== undefined);
      const incoming = standard ? await receiveStandard(c, provider, key) : await receiveShopeePush(c, partnerKey!, SHOPEE_CALLBACK_URL ?? c.req.url);
      // Only after the signature: an unsigned request learns nothing about scopes.
      if (!allowsType(WEBHOOK_SCOPES, incoming.provider, incoming.eventType)) {
        throw forbidden(`provider ${incoming.provider} may not send ${incoming.eventType} webhooks`, [
          { path: standard ? "type" : "code", message: "not in this provider's WEBHOOK_SCOPES" },
        ]);
      }
      const stored = await storeWebhook(deps.db, deps.engine?.relay ?? undefined, incoming);
      return stored.duplicate
        ? c.json({ received: true as const, duplicate: true as const }, 200)
        : c.json({ received: true as const, id: stored.id, duplicate: false as const }, 202);
    })
    .openapi({ ...getWebhookRoute, middleware: [admin] }, async (c) => {
      const { provider, webhookId } = c.req.param();
      // Nothing else is ever stored, and a decoded NUL must not reach PostgreSQL.
      if (!PROVIDER.test(provider) || !WEBHOOK_ID.test(webhookId)) throw notFound("webhook");
      const row = await findWebhook(deps.db, provider, webhookId);
      if (!row) throw notFound("webhook");
      return c.json(webhookView(row), 200);
    });
}

// MUST read the body once, as bytes, and verify those exact bytes before decoding and parsing them.
async function receiveStandard(c: Context, provider: string, key: Buffer): Promise<IncomingWebhook> {
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  const webhookId = c.req.header("webhook-id");
  const check = verifyStandardWebhook(key, { id: webhookId, timestamp: c.req.header("webhook-timestamp"), signature: c.req.header("webhook-signature") }, bytes);
  if (!check.ok) throw refuse(check);
  if (!WEBHOOK_ID.test(webhookId!)) throw invalid([{ path: "webhook-id", message: "must be 1 to 255 printable ASCII characters" }]);
  const rawBody = decodeBody(bytes);
  const { type } = parseWebhookBody(rawBody);
  return { provider, webhookId: webhookId!, eventType: type, rawBody };
}

async function receiveShopeePush(c: Context, partnerKey: string, callbackUrl: string): Promise<IncomingWebhook> {
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  const check = verifyShopeePush(partnerKey, callbackUrl, bytes, c.req.header("authorization"));
  if (!check.ok) throw refuse(check);
  const rawBody = decodeBody(bytes);
  const { code, timestamp } = parseShopeeBody(rawBody);
  if (!withinTolerance(timestamp)) throw refuse({ ok: false, reason: `timestamp is more than ${WEBHOOK_TOLERANCE_S / 60} minutes from the server's clock` });
  return { provider: SHOPEE, webhookId: shopeeWebhookId(rawBody), eventType: `shopee.${code}`, rawBody };
}
