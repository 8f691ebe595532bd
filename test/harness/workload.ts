// The fleet workload: a catalog, a deterministic plan of orders whose final state is known in
// advance however the fleet interleaves them, and a driver that sends it through the HTTP API.
import { randomUUID } from "node:crypto";
import type { Sql } from "../../src/db/client.ts";
import type { ApiClient, ApiResponse } from "./api-client.ts";

export type OrderStatus = "pending" | "confirmed" | "rejected" | "paid" | "cancelled";

/**
 * What happens to an order. Cancellations wait until the order is confirmed (or paid), so whether
 * it was confirmed first never depends on timing; payments sent early are recorded as awaiting
 * the order's decision, and inventory settles them when it decides.
 */
export type OrderKind =
  | "paid" | "paidEarly" | "unpaid" | "wrongAmount" | "failedThenPaid" | "paidTwice"
  | "cancelledConfirmed" | "cancelledPaid" | "outOfStock" | "outOfStockPaid" | "unknownProduct";

const WEIGHTS: Record<OrderKind, number> = {
  paid: 30, paidEarly: 16, unpaid: 6, wrongAmount: 5, failedThenPaid: 5, paidTwice: 4,
  cancelledConfirmed: 8, cancelledPaid: 8, outOfStock: 6, outOfStockPaid: 4, unknownProduct: 8,
};

export interface Product {
  id: string;
  tenantId: string;
  sku: string;
  priceCents: number;
  initialStock: number;
  /** Stock set later by an `inventory.stock_updated` webhook, so the final stock; orders never use such a product. */
  stockSetTo?: number;
}

export interface Line {
  productId: string;
  quantity: number;
  unitPrice: number;
}

export type Step =
  | { do: "pay"; paymentId: string; amount: number; status: "succeeded" | "failed"; after?: OrderStatus; repeat?: boolean }
  | { do: "cancel"; reason: string; after: OrderStatus };

export interface PlannedOrder {
  index: number;
  kind: OrderKind;
  tenantId: string;
  idempotencyKey: string;
  items: Line[];
  totalCents: number;
  steps: Step[];
  /** Set once POST /orders answered. */
  id?: string;
}

export interface Workload {
  runId: string;
  tenants: string[];
  products: Product[];
  orders: PlannedOrder[];
}

const AMPLE_STOCK = 1_000_000;
const PRICES = [1250, 799, 325, 2000];

/** Per tenant four products with ample stock and one with none, created through POST /products. */
export async function createCatalog(client: ApiClient, sql: Sql, runId: string, tenantCount = 3): Promise<{ tenants: string[]; products: Product[] }> {
  const tenants = Array.from({ length: tenantCount }, (_, i) => `${runId}-shop${i + 1}`);
  const wanted = tenants.flatMap((tenantId) => [
    ...PRICES.map((priceCents, i) => ({ tenantId, sku: `sku-${i + 1}`, priceCents, initialStock: AMPLE_STOCK })),
    { tenantId, sku: "sku-sold-out", priceCents: 500, initialStock: 0 },
  ]);
  const products = await Promise.all(wanted.map((p) => createProduct(client, sql, p)));
  return { tenants, products };
}

/** POST /products; sent again after a fault, the 409 for its own earlier commit counts as created. */
export async function createProduct(client: ApiClient, sql: Sql, p: Omit<Product, "id">): Promise<Product> {
  const res = await client.request("POST", "/products", { tenantId: p.tenantId, sku: p.sku, name: `Product ${p.sku}`, price: p.priceCents / 100, stock: p.initialStock });
  if (res.status === 201) return { ...p, id: res.body.id };
  // 409 after a retry: the first attempt committed and its answer was lost.
  const [row] = res.status === 409 && res.attempts > 1 ? await sql<{ id: string }[]>`select id from products where tenant_id = ${p.tenantId} and sku = ${p.sku}` : [];
  if (!row) throw unexpected(res, `POST /products ${p.sku}`);
  return { ...p, id: row.id };
}

/** `count` orders over the catalog, the same plan for the same seed. */
export function planWorkload(catalog: { tenants: string[]; products: Product[] }, runId: string, count: number, seed = 1): Workload {
  const random = mulberry32(seed);
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;
  const kinds = shuffle(Object.entries(WEIGHTS).flatMap(([kind, n]) => Array<OrderKind>(n).fill(kind as OrderKind)), random);
  const orders: PlannedOrder[] = [];
  for (let index = 0; index < count; index++) {
    const kind = kinds[index % kinds.length]!;
    const tenantId = catalog.tenants[index % catalog.tenants.length]!;
    const ample = catalog.products.filter((p) => p.tenantId === tenantId && p.initialStock > 0);
    const soldOut = catalog.products.find((p) => p.tenantId === tenantId && p.initialStock === 0)!;
    const line = (p: Product): Line => ({ productId: p.id, quantity: 1 + Math.floor(random() * 3), unitPrice: p.priceCents / 100 });
    const first = pick(ample);
    const second = pick(ample.filter((p) => p !== first));
    let items = random() < 0.4 ? [line(first), line(second)] : [line(first)];
    if (kind === "outOfStock" || kind === "outOfStockPaid") items = random() < 0.5 ? [line(first), line(soldOut)] : [line(soldOut)];
    if (kind === "unknownProduct") items = [...(random() < 0.5 ? [line(first)] : []), { productId: randomUUID(), quantity: 1, unitPrice: 9.99 }];
    const totalCents = items.reduce((sum, l) => sum + l.quantity * Math.round(l.unitPrice * 100), 0);
    orders.push({ index, kind, tenantId, idempotencyKey: `${runId}-order-${index}`, items, totalCents, steps: stepsFor(kind, `${runId}-pay-${index}`, totalCents / 100) });
  }
  return { runId, tenants: catalog.tenants, products: catalog.products, orders };
}

function stepsFor(kind: OrderKind, pay: string, total: number): Step[] {
  const exact = (suffix: string, after?: OrderStatus): Step => ({ do: "pay", paymentId: `${pay}-${suffix}`, amount: total, status: "succeeded", ...(after ? { after } : {}) });
  switch (kind) {
    case "paid": return [exact("a", "confirmed")];
    case "paidEarly": return [exact("a")];
    case "unpaid": return [];
    case "wrongAmount": return [{ do: "pay", paymentId: `${pay}-a`, amount: Math.round(total * 100 + 100) / 100, status: "succeeded" }];
    case "failedThenPaid": return [{ do: "pay", paymentId: `${pay}-a`, amount: total, status: "failed" }, exact("b", "confirmed")];
    case "paidTwice": return [exact("a"), { ...exact("a"), repeat: true } as Step, exact("b")];
    case "cancelledConfirmed": return [{ do: "cancel", reason: "customer changed their mind", after: "confirmed" }];
    case "cancelledPaid": return [exact("a"), { do: "cancel", reason: "ordered twice", after: "paid" }];
    case "outOfStockPaid": return [exact("a")];
    case "outOfStock":
    case "unknownProduct": return [];
  }
}

export type PayStep = Extract<Step, { do: "pay" }>;

/** Sends one payment step of order `o` (created: `o.id` is set); throws unless it was accepted. */
export type PaymentSender = (client: ApiClient, o: PlannedOrder, step: PayStep) => Promise<void>;

export interface DriveOptions {
  /** Orders in progress at once (created and waiting for their next step); HTTP concurrency is the client's. */
  maxActive?: number;
  /** Called after each order was created, with how many have been. */
  onCreated?: (created: number) => void;
  waitTimeoutMs?: number;
  /** Awaited before an order is sent, e.g. to pace orders over a duration. */
  beforeOrder?: (o: PlannedOrder) => Promise<void>;
  /** How payment steps are sent; POST /orders/:id/payments by default. */
  sendPayment?: PaymentSender;
  /** Called when the API accepted the order (`step` null) or one of its steps. */
  onAccepted?: (o: PlannedOrder, step: Step | null) => void;
}

/**
 * Sends every planned order and its payments and cancellations through the API. A step that
 * waits for a status reads it from PostgreSQL in bulk (cheaper than polling GET /orders/:id).
 * Returns the problems met; an order whose request failed is reported, the others go on.
 */
export async function driveWorkload(client: ApiClient, sql: Sql, workload: Workload, opts: DriveOptions = {}): Promise<string[]> {
  const { maxActive = 256, onCreated, waitTimeoutMs = 120_000, beforeOrder } = opts;
  const watcher = startStatusWatcher(sql, waitTimeoutMs);
  const problems: string[] = [];
  let created = 0;
  let cursor = 0;
  const lane = async () => {
    for (let o = workload.orders[cursor++]; o; o = workload.orders[cursor++]) {
      try {
        await beforeOrder?.(o);
        await runOrder(client, watcher, o, opts, () => onCreated?.(++created));
      } catch (err) {
        problems.push(`order #${o.index} (${o.kind}${o.id ? ` ${o.id}` : ""}): ${(err as Error).message}`);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: maxActive }, lane));
  } finally {
    watcher.stop();
  }
  return problems;
}

async function runOrder(client: ApiClient, watcher: StatusWatcher, o: PlannedOrder, opts: DriveOptions, created: () => void): Promise<void> {
  const { sendPayment = postPayment, onAccepted } = opts;
  const id = await placeOrder(client, o);
  created();
  onAccepted?.(o, null);
  for (const step of o.steps) {
    if (step.after) await watcher.waitFor(id, step.after);
    if (step.do === "pay") {
      await sendPayment(client, o, step);
    } else {
      const cancelled = await client.request("POST", `/orders/${id}/cancel`, { reason: step.reason });
      if (cancelled.status !== 202 && !(cancelled.status === 409 && cancelled.attempts > 1)) throw unexpected(cancelled, "POST cancel");
    }
    onAccepted?.(o, step);
  }
}

/** POST /orders with the order's Idempotency-Key (so it may be sent again); sets `o.id`. */
export async function placeOrder(client: ApiClient, o: PlannedOrder): Promise<string> {
  const body = {
    tenantId: o.tenantId, customerId: `customer-${o.index % 97}`, customerEmail: `customer${o.index % 97}@example.com`, items: o.items,
    shippingAddress: { firstName: "Ada", lastName: "Lovelace", address1: "1 Fleet St", city: "Istanbul", postalCode: "34000", country: "TR" },
  };
  const res = await client.request("POST", "/orders", body, { "idempotency-key": o.idempotencyKey });
  if (res.status !== 201) throw unexpected(res, "POST /orders");
  o.id = res.body.id as string;
  return o.id;
}

/** POST /orders/:id/payments: 202, or 200 `duplicate` for a planned repeat or a retry whose first attempt committed. */
export const postPayment: PaymentSender = async (client, o, step) => {
  const paid = await client.request("POST", `/orders/${o.id}/payments`, { paymentId: step.paymentId, amount: step.amount, status: step.status });
  const ok = step.repeat ? paid.status === 200 && paid.body.duplicate === true : paid.status === 202 || (paid.status === 200 && paid.attempts > 1);
  if (!ok) throw unexpected(paid, `POST payment ${step.paymentId}${step.repeat ? " (repeated)" : ""}`);
};

/**
 * The order as far as it was sent: the same order with its first `sent` steps and the kind whose
 * outcome those steps lead to (an order given up on before its payment or cancellation went out
 * ends as if it had been planned without them). A failedThenPaid order given up after its failed
 * payment keeps its kind: nothing planned ends that way, and it then shows as an effect missing.
 */
export function asSent(o: PlannedOrder, sent: number): PlannedOrder {
  if (sent >= o.steps.length) return o;
  const kind: OrderKind =
    o.kind === "outOfStockPaid" ? "outOfStock"
    : o.kind === "failedThenPaid" && sent > 0 ? o.kind
    : (o.kind === "paidTwice" || o.kind === "cancelledPaid") && sent > 0 ? "paidEarly"
    : "unpaid";
  return { ...o, kind, steps: o.steps.slice(0, sent) };
}

interface StatusWatcher {
  /** Resolves once the order has `status`; rejects if it settles on another status or the wait times out. */
  waitFor(orderId: string, status: OrderStatus): Promise<void>;
  stop(): void;
}

/** The statuses an order passes through on its way to each one a step may wait for. */
const BEFORE: Record<OrderStatus, OrderStatus[]> = {
  pending: [], confirmed: ["pending"], paid: ["pending", "confirmed"], rejected: ["pending"], cancelled: ["pending", "confirmed", "paid"],
};

function startStatusWatcher(sql: Sql, timeoutMs: number, everyMs = 150): StatusWatcher {
  const waiting = new Map<string, { want: OrderStatus; until: number; resolve: () => void; reject: (err: Error) => void }>();
  let running = true;
  const loop = async () => {
    while (running) {
      const ids = [...waiting.keys()];
      if (ids.length > 0) {
        try {
          const rows = await sql<{ id: string; status: OrderStatus }[]>`select id::text, status from orders where id::text = any(${ids}::text[])`;
          const now = Date.now();
          const seen = new Map(rows.map((r) => [r.id, r.status]));
          for (const [id, w] of waiting) {
            const status = seen.get(id) ?? "pending";
            if (status === w.want) w.resolve();
            else if (!BEFORE[w.want].includes(status)) w.reject(new Error(`waiting for ${w.want}, the order became ${status}`));
            else if (now > w.until) w.reject(new Error(`still pending after ${timeoutMs} ms waiting for ${w.want}`));
            else continue;
            waiting.delete(id);
          }
        } catch {
          // PostgreSQL busy or restarting: look again next round.
        }
      }
      await Bun.sleep(everyMs);
    }
  };
  void loop();
  return {
    waitFor: (orderId, want) => new Promise((resolve, reject) => waiting.set(orderId, { want, until: Date.now() + timeoutMs, resolve, reject })),
    stop: () => {
      running = false;
      for (const w of waiting.values()) w.reject(new Error("the workload stopped"));
      waiting.clear();
    },
  };
}

/** An answer the workload did not expect, with enough of it to tell why. */
export function unexpected(res: ApiResponse, what: string): Error {
  return new Error(`${what}: unexpected ${res.status} after ${res.attempts} attempt(s): ${JSON.stringify(res.body).slice(0, 300)}`);
}

/** A small seeded PRNG (mulberry32), so a plan is reproducible from its seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
