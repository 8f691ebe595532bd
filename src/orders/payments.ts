import { eq } from "drizzle-orm";
import type { Tx } from "../db/client.ts";
import { payments } from "../db/schema.ts";

export async function paymentRecorded(tx: Tx, paymentId: string): Promise<boolean> {
  const [row] = await tx.select({ id: payments.paymentId }).from(payments).where(eq(payments.paymentId, paymentId));
  return row !== undefined;
}

export async function recordPayment(tx: Tx, p: { paymentId: string; orderId: string; amount: number; status: "succeeded" | "failed"; applied: boolean }): Promise<void> {
  await tx.insert(payments).values(p);
}
