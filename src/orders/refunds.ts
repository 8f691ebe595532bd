import { sql } from "drizzle-orm";
import type { Tx } from "../db/client.ts";
import { refunds } from "../db/schema.ts";
import { fromCents, toCents } from "../lib/validation.ts";

/** Owes back one payment; a payment is refunded at most once. */
export async function refundPayment(tx: Tx, orderId: string, paymentId: string, amount: number, reason: string): Promise<void> {
  await tx.insert(refunds).values({ orderId, paymentId, amount, reason }).onConflictDoNothing();
}

/** Refunds every payment that paid the order; returns the amount refunded now. */
export async function refundPaidPayments(tx: Tx, orderId: string, reason: string): Promise<number> {
  const inserted = await tx.execute<{ amount: string }>(sql`
    insert into refunds (order_id, payment_id, amount, reason)
    select order_id, payment_id, amount, ${reason} from payments
    where order_id = ${orderId} and applied
    on conflict (payment_id) do nothing
    returning amount`);
  return fromCents(inserted.reduce((sum, r) => sum + toCents(Number(r.amount)), 0));
}
