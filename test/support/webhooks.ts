import { randomBytes } from "node:crypto";
import { signStandardWebhook } from "../../src/webhooks/verify-standard.ts";

/** A fresh Standard Webhooks secret and the WEBHOOK_SECRETS entry naming it. */
export function webhookSecret(provider: string): { key: Buffer; env: string } {
  const key = randomBytes(24);
  return { key, env: `${provider}=whsec_${key.toString("base64")}` };
}

/** Headers signing `body` the way a Standard Webhooks sender does. */
export function signWebhook(key: Buffer, body: string, id = `msg_${randomBytes(8).toString("hex")}`, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
  return { "content-type": "application/json", "webhook-id": id, "webhook-timestamp": String(timestamp), "webhook-signature": `v1,${signStandardWebhook(key, id, timestamp, body)}` };
}
