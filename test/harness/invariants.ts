// What a drained fleet must show after a workload, computed from the plan alone, against what
// PostgreSQL, Redis and the HTTP API hold. Every effect is counted, so an event applied twice by
// one handler shows up as a surplus somewhere (a counter, a stock level, a row).
import type Redis from "ioredis";
import type { Sql } from "../../src/db/client.ts";
import { keys } from "../../src/engine/redis/keys.ts";
import type { ApiClient } from "./api-client.ts";
import type { OrderKind, OrderStatus, PlannedOrder, Workload } from "./workload.ts";

export interface ExpectedOrder {
  status: OrderStatus;
  reason: string | null;
  payments: number;
  applied: number;
  failed: number;
  /** Refund reasons, sorted. */
  refunds: string[];
  refundCents: number;
}

const CONFIRMED: OrderKind[] = ["paid", "paidEarly", "unpaid", "wrongAmount", "failedThenPaid", "paidTwice", "cancelledConfirmed", "cancelledPaid"];
const PAID: OrderKind[] = ["paid", "paidEarly", "failedThenPaid", "paidTwice", "cancelledPaid"];
const CANCELLED: OrderKind[] = ["cancelledConfirmed", "cancelledPaid"];
const REJECTED: OrderKind[] = ["outOfStock", "outOfStockPaid", "unknownProduct"];

/** The final state of one order, from the rules in src/handlers (inventory and payments). */
export function expectedOrder(o: PlannedOrder): ExpectedOrder {
  const none = { payments: 0, applied: 0, failed: 0, refunds: [] as string[], refundCents: 0 };
  const cancelReason = o.steps.find((s) => s.do === "cancel")?.reason ?? null;
  switch (o.kind) {
    case "paid":
    case "paidEarly": return { status: "paid", reason: null, ...none, payments: 1, applied: 1 };
    case "unpaid": return { status: "confirmed", reason: null, ...none };
    case "wrongAmount": return { status: "confirmed", reason: null, payments: 1, applied: 0, failed: 0, refunds: ["amount_mismatch"], refundCents: o.totalCents + 100 };
    case "failedThenPaid": return { status: "paid", reason: null, ...none, payments: 2, applied: 1, failed: 1 };
    // Either payment may land first: one pays the order, the other is refunded.
    case "paidTwice": return { status: "paid", reason: null, payments: 2, applied: 1, failed: 0, refunds: ["order_already_paid"], refundCents: o.totalCents };
    case "cancelledConfirmed": return { status: "cancelled", reason: cancelReason, ...none };
    case "cancelledPaid": return { status: "cancelled", reason: cancelReason, payments: 1, applied: 1, failed: 0, refunds: ["order_cancelled"], refundCents: o.totalCents };
    case "outOfStock": return { status: "rejected", reason: "insufficient_stock", ...none };
    case "outOfStockPaid": return { status: "rejected", reason: "insufficient_stock", payments: 1, applied: 0, failed: 0, refunds: ["order_rejected"], refundCents: o.totalCents };
    case "unknownProduct": return { status: "rejected", reason: "unknown_product", ...none };
  }
}

const count = (orders: PlannedOrder[], kinds: OrderKind[]) => orders.filter((o) => kinds.includes(o.kind)).length;

/** Rows per event type in the outbox: each business fact written exactly once. */
export function expectedEvents(w: Workload): Record<string, number> {
  const payments = new Set(w.orders.flatMap((o) => o.steps.flatMap((s) => (s.do === "pay" ? [s.paymentId] : []))));
  return {
    "product.created": w.products.length,
    "order.created": w.orders.length,
    "order.confirmed": count(w.orders, CONFIRMED),
    "order.rejected": count(w.orders, REJECTED),
    "order.cancelled": count(w.orders, CANCELLED),
    "order.cancellation_completed": count(w.orders, CANCELLED),
    "order.paid": count(w.orders, PAID),
    "payment.processed": payments.size,
  };
}

/** GET /tenants/:id/stats per tenant, from the analytics rules (revenue net of refunds of cancelled paid orders). */
export function expectedTenantStats(w: Workload, tenantId: string): Record<string, number> {
  const mine = w.orders.filter((o) => o.tenantId === tenantId);
  const revenueCents = mine.filter((o) => PAID.includes(o.kind) && !CANCELLED.includes(o.kind)).reduce((sum, o) => sum + o.totalCents, 0);
  return {
    ordersCreated: mine.length,
    ordersConfirmed: count(mine, CONFIRMED),
    ordersRejected: count(mine, REJECTED),
    ordersCancelled: count(mine, CANCELLED),
    ordersPaid: count(mine, PAID),
    revenue: revenueCents / 100,
    productsCreated: w.products.filter((p) => p.tenantId === tenantId).length,
    usersCreated: 0,
  };
}

/** Initial stock less what the confirmed and paid (uncancelled) orders hold. */
export function expectedStock(w: Workload): Map<string, number> {
  const stock = new Map(w.products.map((p) => [p.id, p.stockSetTo ?? p.initialStock]));
  for (const o of w.orders) {
    const status = expectedOrder(o).status;
    if (status !== "confirmed" && status !== "paid") continue;
    for (const l of o.items) stock.set(l.productId, stock.get(l.productId)! - l.quantity);
  }
  return stock;
}

/** One thing the fleet left behind that differs from the plan. */
export interface Mismatch {
  what: string;
  expected: unknown;
  actual: unknown;
  /** Something happened more often than planned: an effect applied twice. */
  surplus: boolean;
  /** Says it better than "expected ..., got ...". */
  message?: string;
}

export interface InvariantReport {
  problems: string[];
  mismatches: Mismatch[];
  events: number;
  handlerRuns: number;
}

export interface InvariantOptions {
  /**
   * Events the run wrote besides the plan (webhooks, events made to fail on purpose): left out
   * of the event, handler-run, notification and dead-letter checks; the caller checks them.
   */
  foreignEvents?: string[];
}

/** Compares everything the plan determines with what the fleet left behind; no problems means it held. */
export async function checkInvariants(deps: { sql: Sql; redis: Redis; prefix: string; client: ApiClient }, w: Workload, opts: InvariantOptions = {}): Promise<InvariantReport> {
  const { sql, redis, prefix, client } = deps;
  const foreign = opts.foreignEvents ?? [];
  const mismatches: Mismatch[] = [];
  const differ = (what: string, actual: unknown, expected: unknown, surplus = false) => {
    if (JSON.stringify(actual) !== JSON.stringify(expected)) mismatches.push({ what, expected, actual, surplus });
  };
  const more = (actual: number, expected: number) => actual > expected;

  // Orders: exactly the planned ones (idempotent creation), each in its final state.
  const orders = await sql<{ id: string; status: string; status_reason: string | null }[]>`select id::text, status, status_reason from orders`;
  differ("orders in the database", orders.length, w.orders.length, more(orders.length, w.orders.length));
  const payments = await sql<{ order_id: string; n: number; applied: number; failed: number }[]>`
    select order_id::text, count(*)::int as n, (count(*) filter (where applied))::int as applied, (count(*) filter (where status = 'failed'))::int as failed
    from payments group by order_id`;
  const refunds = await sql<{ order_id: string; reasons: string[]; cents: number }[]>`
    select order_id::text, array_agg(reason order by reason) as reasons, (sum(amount) * 100)::int as cents from refunds group by order_id`;
  const byId = new Map(orders.map((o) => [o.id, o]));
  const paymentsOf = new Map(payments.map((p) => [p.order_id, p]));
  const refundsOf = new Map(refunds.map((r) => [r.order_id, r]));
  for (const o of w.orders) {
    if (!o.id) continue; // never created: reported by the driver
    const want = expectedOrder(o);
    const row = byId.get(o.id);
    const p = paymentsOf.get(o.id);
    const r = refundsOf.get(o.id);
    const got = {
      status: row?.status, reason: row?.status_reason ?? null, payments: p?.n ?? 0, applied: p?.applied ?? 0, failed: p?.failed ?? 0,
      refunds: r?.reasons ?? [], refundCents: r?.cents ?? 0,
    };
    const surplus = more(got.payments, want.payments) || more(got.applied, want.applied) || more(got.refunds.length, want.refunds.length);
    differ(`order #${o.index} ${o.kind} ${o.id}`, got, want, surplus);
  }

  // Stock below the plan: a reservation applied twice (or a release lost). A stock a webhook
  // sets is no count of reservations: there a difference is only a webhook not applied.
  const stock = expectedStock(w);
  const reserved = new Set(w.products.filter((p) => p.stockSetTo === undefined).map((p) => p.id));
  for (const row of await sql<{ id: string; stock: number }[]>`select id::text, stock from products`) {
    const want = stock.get(row.id);
    differ(`stock of product ${row.id}`, row.stock, want, want !== undefined && reserved.has(row.id) && row.stock < want);
  }

  for (const tenantId of w.tenants) {
    const res = await client.request("GET", `/tenants/${tenantId}/stats`);
    const want = expectedTenantStats(w, tenantId);
    const got = Object.fromEntries(Object.keys(want).map((k) => [k, res.body?.[k]]));
    const surplus = Object.entries(want).some(([k, n]) => k !== "revenue" && more(Number(got[k]), n));
    differ(`GET /tenants/${tenantId}/stats`, got, want, surplus);
  }

  // Events: each fact written once, and each handler ran each event of its type exactly once.
  const events = await sql<{ event_type: string; n: number }[]>`
    select event_type, count(*)::int as n from outbox where not (id = any(${foreign}::uuid[])) group by event_type`;
  const eventCounts = Object.fromEntries(events.map((e) => [e.event_type, e.n]));
  for (const [type, n] of Object.entries(expectedEvents(w))) differ(`outbox rows of ${type}`, eventCounts[type] ?? 0, n, more(eventCounts[type] ?? 0, n));
  const runs = await sql<{ handler: string; event_type: string; n: number }[]>`
    select p.handler, o.event_type, count(*)::int as n from processed_events p join outbox o on o.id = p.event_id
    where not (o.id = any(${foreign}::uuid[])) group by 1, 2`;
  for (const run of runs) differ(`${run.handler} runs of ${run.event_type}`, run.n, eventCounts[run.event_type], more(run.n, eventCounts[run.event_type] ?? 0));
  const ran = new Set(runs.map((r) => `${r.handler}@${r.event_type}`));
  for (const pair of REQUIRED_RUNS) {
    if (!ran.has(pair) && (eventCounts[pair.split("@")[1]!] ?? 0) > 0) mismatches.push({ what: pair, expected: "runs", actual: 0, surplus: false, message: `${pair} never ran` });
  }

  // Notifications: one per event (unique event_id), for exactly the events that send one.
  const sent = await sql<{ event_type: string; n: number; events: number }[]>`
    select n.event_type, count(*)::int as n, count(distinct n.event_id)::int as events from notifications n
    join outbox o on o.id = n.event_id and o.event_type = n.event_type where not (o.id = any(${foreign}::uuid[])) group by 1`;
  const [notified] = await sql<{ n: number }[]>`select count(*)::int as n from notifications where not (event_id = any(${foreign}::uuid[]))`;
  const unmatched = notified!.n - sent.reduce((s, x) => s + x.n, 0);
  differ("notifications not matching an outbox event of their type", unmatched, 0, unmatched > 0);
  const sentBy = Object.fromEntries(sent.map((s) => [s.event_type, s]));
  for (const type of ["order.confirmed", "order.rejected", "order.cancelled", "payment.processed"]) {
    const [n, distinct, want] = [sentBy[type]?.n ?? 0, sentBy[type]?.events ?? 0, eventCounts[type] ?? 0];
    differ(`notifications for ${type}`, [n, distinct], [want, want], more(n, distinct) || more(n, want));
  }

  // Dead letters: none but the caller's own, in the Redis stream and in their durable PostgreSQL record.
  const foreignSet = new Set(foreign);
  const copies = await redis.xrange(keys.deadLetters(prefix), "-", "+");
  differ("dead-lettered entries", copies.filter(([, f]) => !foreignSet.has(f[f.indexOf("eventId") + 1] ?? "")).length, 0);
  const [recorded] = await sql<{ n: number }[]>`
    select count(*)::int as n from dead_letters where event_id is null or not (event_id = any(${foreign}::uuid[]))`;
  differ("dead letters recorded in PostgreSQL", recorded!.n, 0);
  const [processed] = await sql<{ n: number }[]>`select count(*)::int as n from processed_events`;
  const problems = mismatches.map((m) => m.message ?? `${m.what}: expected ${JSON.stringify(m.expected)}, got ${JSON.stringify(m.actual)}`);
  return { problems, mismatches, events: events.reduce((s, e) => s + e.n, 0), handlerRuns: processed!.n };
}

const REQUIRED_RUNS = [
  "inventory@order.created", "inventory@order.cancelled", "payments@payment.processed",
  "notifications@order.confirmed", "notifications@order.rejected", "notifications@order.cancelled", "notifications@payment.processed",
  "analytics@order.created", "analytics@order.confirmed", "analytics@order.rejected", "analytics@order.paid",
  "analytics@order.cancellation_completed", "analytics@product.created",
];
