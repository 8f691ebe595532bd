// After a chaos run has drained: what the API acknowledged against what took effect. "Lost" is
// an acknowledged order, payment, cancellation, webhook or event whose effect is missing; "applied
// twice" an effect found more often than it was asked for. Also the deliveries (event x handler)
// that never happened, and the commit-to-effect latency of events in flight during a fault.
import type { Sql } from "../../src/db/client.ts";
import { percentile } from "./api-client.ts";
import type { Extra, PaymentWebhook } from "./chaos-load.ts";
import type { PlannedOrder, Step } from "./workload.ts";

/** What the API accepted, as the workload reported it (`step` null: the order itself). */
export interface Accepted {
  order: PlannedOrder;
  step: Step | null;
}

export interface AuditInput {
  sql: Sql;
  runId: string;
  accepted: Accepted[];
  extras: Extra[];
  paymentWebhooks: PaymentWebhook[];
  /** Handlers subscribed to each event type (the service's subscriptions). */
  handlers: Map<string, string[]>;
  /** When Redis lost its data (epoch ms), if it did. */
  redisLossAt: number | null;
}

export interface Audit {
  acknowledged: { orders: number; payments: number; cancellations: number; webhooks: number; replays: number; doomed: number };
  /** One line per acknowledged request whose effect is missing. */
  lost: string[];
  /** The same, counted by what was acknowledged: orders, payments, cancellations, webhooks, doomed. */
  lostBy: Record<string, number>;
  /** Deliveries (event x subscribed handler) neither processed nor dead-lettered. */
  undelivered: { total: number; publishedBeforeRedisLoss: number; byType: Record<string, number>; sample: string[] };
  /** One line per effect found more often than asked for, beyond what checkInvariants compares (its `surplus` mismatches). */
  doubled: string[];
  /** `unexpected`: dead letters of events not made to fail; `unexpectedGroups` them by handler, type, reason and error. */
  deadLetters: { expected: number; recorded: number; unexpected: number; unexpectedGroups: string[] };
}

/** Events the run wrote besides the plan: every webhook.received and the events made to fail. */
export async function readForeignEvents(sql: Sql, runId: string): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    select id::text from outbox where event_type = 'webhook.received' or idempotency_key like ${`${runId}-doomedEvent-%`}`;
  return rows.map((r) => r.id);
}

export async function auditRun(input: AuditInput): Promise<Audit> {
  const { sql } = input;
  const lost: string[] = [];
  const lostBy: Record<string, number> = {};
  const lose = (what: keyof Audit["acknowledged"], line: string) => {
    lost.push(line);
    lostBy[what] = (lostBy[what] ?? 0) + 1;
  };
  const doubled: string[] = [];

  // Orders and their steps.
  const orders = new Map((await sql<{ id: string; status: string }[]>`select id::text, status from orders`).map((o) => [o.id, o.status]));
  const paid = new Set((await sql<{ payment_id: string }[]>`select payment_id from payments`).map((p) => p.payment_id));
  const acknowledged = { orders: 0, payments: 0, cancellations: 0, webhooks: 0, replays: 0, doomed: 0 };
  for (const { order: o, step } of input.accepted) {
    const name = `order #${o.index} (${o.kind}) ${o.id}`;
    const status = orders.get(o.id!);
    if (step === null) {
      acknowledged.orders++;
      if (status === undefined) lose("orders", `${name}: acknowledged (201) but not in the database`);
      else if (status === "pending") lose("orders", `${name}: acknowledged, still pending (inventory never decided it)`);
    } else if (step.do === "pay") {
      if (step.repeat) continue; // the same paymentId again: nothing new to take effect
      acknowledged.payments++;
      if (!paid.has(step.paymentId)) lose("payments", `${name}: payment ${step.paymentId} acknowledged, never recorded`);
    } else {
      acknowledged.cancellations++;
      if (status !== "cancelled") lose("cancellations", `${name}: cancellation acknowledged, the order is ${status}`);
    }
  }

  // Webhooks: each stored once, with one webhook.received event, completed (or failed on purpose).
  const hooks = new Map((await sql<{ webhook_id: string; status: string; result: string | null; event_id: string | null; events: number }[]>`
    select w.webhook_id, w.status, w.result, min(o.id::text) as event_id, count(o.id)::int as events
    from webhook_payloads w left join outbox o on o.event_type = 'webhook.received' and o.aggregate_id = w.id::text
    group by w.id`).map((w) => [w.webhook_id, w]));
  for (const w of hooks.values()) if (w.events > 1) doubled.push(`webhook ${w.webhook_id}: ${w.events} webhook.received events`);
  const stock = new Map((await sql<{ id: string; stock: number }[]>`select id::text, stock from products`).map((p) => [p.id, p.stock]));
  type DeadLetterRow = { event_id: string | null; handler: string; event_type: string; reason: string; error: string; entry_id: string; failed: number };
  const deadLetters = await sql<DeadLetterRow[]>`
    select event_id::text, handler, event_type, reason, error, entry_id, (extract(epoch from failed_at) * 1000)::float8 as failed
    from dead_letters order by failed_at`;
  const deadBy = new Map<string, DeadLetterRow[]>();
  for (const d of deadLetters) deadBy.set(`${d.handler}@${d.event_id}`, [...(deadBy.get(`${d.handler}@${d.event_id}`) ?? []), d]);
  const expectedDead = new Set<string>();
  const when = (at: number) => (input.redisLossAt === null ? "" : ` (${(Math.abs(at - input.redisLossAt) / 1000).toFixed(1)} s ${at < input.redisLossAt ? "before" : "after"} the Redis data loss)`);
  const expectDeadLetter = (what: string, handler: string, eventId: string | null | undefined) => {
    const rows = eventId ? (deadBy.get(`${handler}@${eventId}`) ?? []) : [];
    if (eventId) expectedDead.add(`${handler}@${eventId}`);
    if (rows.length === 0) lose("doomed", `${what}: acknowledged, made to fail, but never dead-lettered by ${handler}`);
    if (rows.length > 1) doubled.push(`${what} (event ${eventId}): dead-lettered ${rows.length} times by ${handler}, as stream entries ${rows.map((r) => `${r.entry_id}${when(r.failed)}`).join(" and ")}`);
  };
  const doomedIds = new Map((await sql<{ key: string; id: string }[]>`
    select idempotency_key as key, id::text from outbox where idempotency_key like ${`${input.runId}-doomedEvent-%`}`).map((r) => [r.key, r.id]));
  for (const x of input.extras) {
    if (!x.accepted) continue;
    const w = hooks.get(x.ref);
    const what = `${x.kind} ${x.ref}`;
    if (x.kind === "replay") {
      acknowledged.replays++;
      continue; // its original is checked; a second row or event would show there
    }
    if (x.kind === "doomedEvent") {
      acknowledged.doomed++;
      expectDeadLetter(what, "payments", doomedIds.get(x.ref));
      continue;
    }
    if (x.kind === "doomedWebhook") {
      acknowledged.doomed++;
      expectDeadLetter(what, "webhooks", w?.event_id);
      continue;
    }
    acknowledged.webhooks++;
    if (!w) lose("webhooks", `${what}: acknowledged (202) but not stored`);
    else if (w.status !== "completed") lose("webhooks", `${what}: acknowledged, left ${w.status}`);
    else if (x.kind === "stock" && stock.get(x.product!.id) !== x.product!.stockSetTo) lose("webhooks", `${what}: completed, but product ${x.product!.id} has stock ${stock.get(x.product!.id)}, not ${x.product!.stockSetTo}`);
  }
  for (const p of input.paymentWebhooks) {
    if (!p.accepted) continue;
    acknowledged.webhooks++;
    const w = hooks.get(p.webhookId);
    if (!w || w.status !== "completed") lose("webhooks", `payment webhook ${p.webhookId}: acknowledged, ${w ? `left ${w.status}` : "not stored"}`);
  }
  // Grouped by handler, type, reason and error (ids blanked), with a count and one example each.
  const unexpectedBy = new Map<string, { n: number; example: DeadLetterRow }>();
  let unexpected = 0;
  for (const d of deadLetters) {
    if (expectedDead.has(`${d.handler}@${d.event_id}`)) continue;
    unexpected++;
    const key = `${d.handler}@${d.event_type} (${d.reason}): ${d.error.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, "<id>").slice(0, 200)}`;
    unexpectedBy.set(key, { n: (unexpectedBy.get(key)?.n ?? 0) + 1, example: unexpectedBy.get(key)?.example ?? d });
  }
  const unexpectedGroups = [...unexpectedBy].map(([key, { n, example }]) => `${n} x ${key} (e.g. event ${example.event_id}, failed${when(example.failed)})`);
  return {
    acknowledged,
    lost,
    lostBy,
    undelivered: await readUndelivered(sql, input.handlers, input.redisLossAt),
    doubled,
    deadLetters: { expected: expectedDead.size, recorded: deadLetters.length, unexpected, unexpectedGroups },
  };
}

/** Every (event, subscribed handler) with neither a processed_events record nor a dead letter. */
async function readUndelivered(sql: Sql, handlers: Map<string, string[]>, redisLossAt: number | null): Promise<Audit["undelivered"]> {
  const pairs = [...handlers].flatMap(([type, hs]) => hs.map((h) => [type, h] as const));
  const rows = await sql<{ id: string; event_type: string; handler: string; published: number | null }[]>`
    with subs(event_type, handler) as (select * from unnest(${pairs.map((p) => p[0])}::text[], ${pairs.map((p) => p[1])}::text[]))
    select o.id::text, o.event_type, s.handler, (extract(epoch from o.published_at) * 1000)::float8 as published
    from outbox o join subs s using (event_type)
    where not exists (select 1 from processed_events p where p.handler = s.handler and p.event_id = o.id)
      and not exists (select 1 from dead_letters d where d.handler = s.handler and d.event_id = o.id)
    order by o.created_at`;
  const byType: Record<string, number> = {};
  for (const r of rows) byType[`${r.handler}@${r.event_type}`] = (byType[`${r.handler}@${r.event_type}`] ?? 0) + 1;
  const before = (r: (typeof rows)[number]) => redisLossAt !== null && r.published !== null && r.published < redisLossAt;
  return {
    total: rows.length,
    publishedBeforeRedisLoss: rows.filter(before).length,
    byType,
    sample: rows.slice(0, 5).map((r) => `${r.handler}@${r.event_type} ${r.id}, ${r.published === null ? "never published" : `published ${redisLossAt === null ? "" : `${((redisLossAt - r.published) / 1000).toFixed(2)} s before the Redis data loss`}`}`),
  };
}

export interface LatencySummary {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/**
 * Commit-to-effect latency (outbox created_at to the handler's processed_events record) of every
 * first-time run, split into events in flight during a fault window ([at, at + recovery]) and the rest.
 */
export async function readEffectLatency(sql: Sql, windows: [number, number][]): Promise<{ during: LatencySummary; outside: LatencySummary }> {
  const rows = await sql<{ created: number; done: number }[]>`
    select (extract(epoch from o.created_at) * 1000)::float8 as created, (extract(epoch from p.processed_at) * 1000)::float8 as done
    from processed_events p join outbox o on o.id = p.event_id where p.outcome = 'processed'`;
  const during: number[] = [];
  const outside: number[] = [];
  for (const r of rows) (windows.some(([a, b]) => r.created <= b && r.done >= a) ? during : outside).push(Math.max(0, r.done - r.created));
  return { during: summarize(during), outside: summarize(outside) };
}

function summarize(values: number[]): LatencySummary {
  const sorted = values.toSorted((a, b) => a - b);
  return { samples: sorted.length, p50Ms: Math.round(percentile(sorted, 0.5)), p99Ms: Math.round(percentile(sorted, 0.99)), maxMs: Math.round(sorted.at(-1) ?? 0) };
}
