import { and, eq, ne, sql } from "drizzle-orm";
import type { Db, Tx } from "../db/client.ts";
import { webhookPayloads } from "../db/schema.ts";

export type WebhookRow = typeof webhookPayloads.$inferSelect;
export type WebhookResult = "applied" | "ignored";

type Executor = Db | Tx;

const MAX_ERROR_LENGTH = 2_000;

export async function findWebhook(db: Executor, provider: string, webhookId: string): Promise<WebhookRow | undefined> {
  const [row] = await db.select().from(webhookPayloads).where(and(eq(webhookPayloads.provider, provider), eq(webhookPayloads.webhookId, webhookId)));
  return row;
}

export async function loadWebhook(db: Executor, id: string): Promise<WebhookRow | undefined> {
  const [row] = await db.select().from(webhookPayloads).where(eq(webhookPayloads.id, id));
  return row;
}

/** A completed row stays completed: a late redelivery never moves it back. */
export async function markWebhookProcessing(db: Executor, id: string): Promise<void> {
  await db.update(webhookPayloads).set({ status: "processing", updatedAt: sql`now()` })
    .where(and(eq(webhookPayloads.id, id), ne(webhookPayloads.status, "completed")));
}

/** Keeps retry_count and last_error: they tell what earlier attempts ran into. */
export async function completeWebhook(db: Executor, id: string, result: WebhookResult): Promise<void> {
  await db.update(webhookPayloads).set({ status: "completed", result, processedAt: sql`now()`, updatedAt: sql`now()` }).where(eq(webhookPayloads.id, id));
}

export async function failWebhook(db: Executor, id: string, error: string): Promise<void> {
  const lastError = error.replaceAll("\u0000", "").slice(0, MAX_ERROR_LENGTH);
  await db.update(webhookPayloads)
    .set({ status: "failed", retryCount: sql`${webhookPayloads.retryCount} + 1`, lastError, updatedAt: sql`now()` })
    .where(and(eq(webhookPayloads.id, id), ne(webhookPayloads.status, "completed")));
}

/** The row as GET /webhooks/:provider/:webhookId shows it, with the body parsed. */
export function webhookView(row: WebhookRow) {
  return {
    id: row.id,
    provider: row.provider,
    webhookId: row.webhookId,
    eventType: row.eventType,
    status: row.status,
    retryCount: row.retryCount,
    lastError: row.lastError,
    result: row.result,
    receivedAt: row.receivedAt.toISOString(),
    processedAt: row.processedAt?.toISOString() ?? null,
    payload: parseStored(row.rawBody),
  };
}

// Only bodies that parsed are stored; the fallback covers rows written by hand.
function parseStored(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return null;
  }
}
