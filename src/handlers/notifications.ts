import { inArray, sql } from "drizzle-orm";
import type { ShopContext, Tx } from "../db/client.ts";
import { orders } from "../db/schema.ts";
import type { EventPayload, EventType } from "../events/catalog.ts";
import { pgArray, type StreamEvent, type Subscription } from "../engine/index.ts";
import * as messages from "../notifications/messages.ts";
import type { Email, Transport } from "../notifications/transport.ts";
import { onBatch } from "./on.ts";

interface Addressee {
  orderNumber: string;
  customerEmail: string;
  tenantId: string;
}

/** An e-mail for the event, and the tenant it is counted under; nothing for an event that sends none. */
type Compose<T extends EventType> = (e: StreamEvent<EventPayload<T>>, order: Addressee | undefined) => { email: Email; tenantId: string | null } | undefined;

/**
 * One e-mail per event, set-based: the orders a batch needs are read in one query, the e-mails
 * are handed to the transport, and their `notifications` rows are written in one insert in the
 * handler's transaction, so each exists exactly once. The transport runs before the commit; if
 * the commit then fails the batch is retried and an e-mail may go out twice (at-least-once),
 * never zero times.
 */
export function notificationHandlers(transport: Transport): Subscription[] {
  const notify = <T extends EventType>(eventType: T, compose: Compose<T>, orderOf?: (e: StreamEvent<EventPayload<T>>) => string) =>
    onBatch(eventType, "notifications", async (events, ctx) => {
      const addressees = orderOf ? await findAddressees(ctx.tx, events.map(orderOf)) : new Map<string, Addressee>();
      const mails = events.flatMap((e) => {
        const composed = compose(e, orderOf && addressees.get(orderOf(e)));
        return composed ? [{ event: e, ...composed }] : [];
      });
      await send(transport, mails.map((m) => m.email), ctx);
      await recordSent(ctx.tx, mails.map((m) => ({ eventId: m.event.id, eventType: m.event.type, tenantId: m.tenantId, ...m.email })));
    });
  const byOrder = (e: { payload: { orderId: string } }) => e.payload.orderId;
  return [
    notify("order.confirmed", (e) => ({ email: messages.orderConfirmed(e.payload), tenantId: e.payload.tenantId })),
    notify("order.rejected", (e) => ({ email: messages.orderRejected(e.payload), tenantId: e.payload.tenantId })),
    notify("order.cancelled", (e, o) => o && { email: messages.cancellationReceived(o, e.payload.reason), tenantId: o.tenantId }, byOrder),
    notify("payment.processed", (e, o) => o && { email: messages.paymentProcessed(o, e.payload), tenantId: o.tenantId }, byOrder),
    notify("user.created", (e) => ({ email: messages.welcome(e.payload), tenantId: e.tenantId })),
  ];
}

/** Hands the batch's e-mails to the transport, a few at a time; the first failure fails the batch. */
async function send(transport: Transport, emails: Email[], ctx: Pick<ShopContext, "signal">): Promise<void> {
  const AT_ONCE = 16;
  for (let i = 0; i < emails.length; i += AT_ONCE) {
    await Promise.all(emails.slice(i, i + AT_ONCE).map((email) => transport.send(email, ctx.signal)));
  }
}

/**
 * The batch's `notifications` rows in one statement: one array parameter per column, so the
 * statement costs the same to build for 1 row or 100 (a parameter per value costs far more).
 */
async function recordSent(tx: Tx, rows: (Email & { eventId: string; eventType: string; tenantId: string | null })[]): Promise<void> {
  if (rows.length === 0) return;
  const column = <K extends keyof (typeof rows)[number]>(k: K) => pgArray(rows.map((r) => r[k] as string | null));
  await tx.execute(sql`
    insert into notifications (event_id, event_type, tenant_id, recipient, subject, body, status, sent_at)
    select e, t, tn, r, s, b, 'sent', now()
    from unnest(${column("eventId")}::uuid[], ${column("eventType")}::text[], ${column("tenantId")}::text[],
      ${column("recipient")}::text[], ${column("subject")}::text[], ${column("body")}::text[]) as v(e, t, tn, r, s, b)`);
}

/** The orders' addressees; an event about an order this service does not hold sends nothing. */
async function findAddressees(tx: Tx, ids: string[]): Promise<Map<string, Addressee>> {
  const rows = await tx.select({ id: orders.id, orderNumber: orders.orderNumber, customerEmail: orders.customerEmail, tenantId: orders.tenantId })
    .from(orders).where(inArray(orders.id, [...new Set(ids)]));
  return new Map(rows.map(({ id, ...addressee }) => [id, addressee]));
}
