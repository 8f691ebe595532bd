import { and, eq, sql } from "drizzle-orm";
import type { Db, Tx } from "../db/client.ts";
import { products } from "../db/schema.ts";
import { ConflictError } from "../lib/domain-errors.ts";
import { pgArray, commitWithEvents, writeEvent, type Waker } from "../engine/index.ts";

export type Product = typeof products.$inferSelect;

export interface NewProduct {
  tenantId: string;
  sku: string;
  name: string;
  price: number;
  stock: number;
}

export function productView(p: Product) {
  return { id: p.id, tenantId: p.tenantId, sku: p.sku, name: p.name, price: p.price, stock: p.stock, createdAt: p.createdAt.toISOString(), updatedAt: p.updatedAt.toISOString() };
}

/** Creates a product and its `product.created` event in one transaction; a taken (tenantId, sku) is a ConflictError. */
export async function createProduct(db: Db, relay: Waker | undefined, input: NewProduct): Promise<Product> {
  return commitWithEvents(db, relay, async (tx) => {
    const [product] = await tx.insert(products).values(input).onConflictDoNothing().returning();
    if (!product) throw new ConflictError(`tenant ${input.tenantId} already has a product with sku ${input.sku}`);
    await writeEvent(tx, {
      eventType: "product.created",
      aggregateId: product.id,
      tenantId: product.tenantId,
      payload: { productId: product.id, tenantId: product.tenantId, sku: product.sku, name: product.name, price: product.price, stock: product.stock, createdAt: product.createdAt.toISOString() },
    });
    return product;
  });
}

/** The product, if it exists and belongs to `tenantId` (null: any tenant). */
export async function getProduct(db: Db, id: string, tenantId: string | null = null): Promise<Product | undefined> {
  const [product] = await db.select().from(products).where(and(eq(products.id, id), tenantId === null ? undefined : eq(products.tenantId, tenantId)));
  return product;
}

export type StockShortfall = "unknown_product" | "insufficient_stock";

/**
 * Takes `quantity` of every product, all or none. Rows are locked in id order, so reservations
 * and releases running at once never deadlock. `quantities` has one entry per product.
 */
export async function reserveStock(tx: Tx, tenantId: string, quantities: Map<string, number>): Promise<{ ok: true } | { ok: false; reason: StockShortfall }> {
  const ids = [...quantities.keys()].sort();
  const rows = await lockProducts(tx, ids, tenantId);
  if (rows.length !== ids.length) return { ok: false, reason: "unknown_product" };
  if (rows.some((r) => r.stock < quantities.get(r.id)!)) return { ok: false, reason: "insufficient_stock" };
  await adjustStock(tx, ids, ids.map((id) => -quantities.get(id)!));
  return { ok: true };
}

/** Gives back what `reserveStock` took, taking the row locks in the same order. */
export async function releaseStock(tx: Tx, quantities: Map<string, number>): Promise<void> {
  const ids = [...quantities.keys()].sort();
  await lockProducts(tx, ids);
  await adjustStock(tx, ids, ids.map((id) => quantities.get(id)!));
}

function lockProducts(tx: Tx, sortedIds: string[], tenantId?: string) {
  return tx.execute<{ id: string; stock: number }>(sql`
    select id, stock from products
    where id = any(${pgArray(sortedIds)}::uuid[]) ${tenantId === undefined ? sql`` : sql`and tenant_id = ${tenantId}`}
    order by id for update`);
}

/** Rows must be locked already (lockProducts), so the update takes no lock of its own. */
async function adjustStock(tx: Tx, ids: string[], deltas: number[]): Promise<void> {
  await tx.execute(sql`
    update products p set stock = p.stock + d.delta, updated_at = now()
    from unnest(${pgArray(ids)}::uuid[], ${pgArray(deltas)}::int[]) as d(id, delta)
    where p.id = d.id`);
}
