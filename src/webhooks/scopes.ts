import { isAppliedType } from "./parse-webhook.ts";

/** What one provider may do: these event types (or any, `*`) for these tenants (or any, `*`). */
export interface WebhookScope {
  types: Set<string> | "*";
  tenants: Set<string> | "*";
}

/** WEBHOOK_SCOPES by provider. A provider without an entry has the default scope (see allowsType). */
export type WebhookScopes = Map<string, WebhookScope>;

const PROVIDER = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const TYPE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$/;
const TENANT = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,99}$/;

/**
 * Reads `provider=type|type@tenant|tenant,other=*`: entries separated by commas, a provider's
 * types by `|`, then optionally `@` and its tenants by `|`; `*` stands for any type or tenant, and
 * no `@` part for any tenant. Returns the scopes and one problem per bad entry (named by position
 * and provider).
 */
export function parseWebhookScopes(value: string): { scopes: WebhookScopes; problems: string[] } {
  const scopes: WebhookScopes = new Map();
  const problems: string[] = [];
  value.split(",").map((s) => s.trim()).filter(Boolean).forEach((entry, i) => {
    const eq = entry.indexOf("=");
    const provider = eq > 0 ? entry.slice(0, eq).trim() : "";
    const [typePart = "", tenantPart, ...extra] = entry.slice(eq + 1).split("@");
    const types = readList(typePart, TYPE);
    const tenants = tenantPart === undefined ? "*" : readList(tenantPart, TENANT);
    const name = `entry ${i + 1}${provider ? ` (${provider})` : ""}`;
    if (eq <= 0 || !PROVIDER.test(provider) || !types || !tenants || extra.length > 0) {
      problems.push(`${name} must be provider=type|type@tenant|tenant (* for any; types and tenants as letters, digits and _ . : - )`);
    } else if (scopes.has(provider)) {
      problems.push(`${name} names ${provider} a second time`);
    } else {
      scopes.set(provider, { types, tenants });
    }
  });
  return { scopes, problems };
}

function readList(text: string, pattern: RegExp): Set<string> | "*" | null {
  const items = text.split("|").map((s) => s.trim());
  if (items.length === 1 && items[0] === "*") return "*";
  return items.every((item) => pattern.test(item)) ? new Set(items) : null;
}

/**
 * Whether `provider` may send webhooks of `type`. Without a scope of its own a provider may send
 * only types the service does not act on (they are stored and ignored): nothing an unscoped
 * provider sends changes an order, a product or a payment.
 */
export function allowsType(scopes: WebhookScopes, provider: string, type: string): boolean {
  const scope = scopes.get(provider);
  if (!scope) return !isAppliedType(type);
  return scope.types === "*" || scope.types.has(type);
}

/** Whether `provider` may act on data of `tenantId` (a product's or an order's tenant). */
export function allowsTenant(scopes: WebhookScopes, provider: string, tenantId: string): boolean {
  const scope = scopes.get(provider);
  // Unscoped providers never reach an applied type (allowsType); refusing here too keeps it so.
  if (!scope) return false;
  return scope.tenants === "*" || scope.tenants.has(tenantId);
}
