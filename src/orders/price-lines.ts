import { and, eq, inArray } from "drizzle-orm";
import type { Tx } from "../db/client.ts";
import { products } from "../db/schema.ts";
import { ConflictError, InvalidInputError, type FieldProblem } from "../lib/domain-errors.ts";
import { MAX_MONEY, toCents } from "../lib/validation.ts";

/** An order line as the client sends it: the price is optional, the catalog decides it. */
export interface RequestedLine {
  productId: string;
  quantity: number;
  unitPrice?: number | undefined;
}

export interface PricedLine {
  productId: string;
  quantity: number;
  unitPrice: number;
}

export const orderTotalCents = (lines: PricedLine[]) => lines.reduce((sum, l) => sum + l.quantity * toCents(l.unitPrice), 0);

/**
 * Prices each line at its product's catalog price, read in the order's transaction, so the order
 * is what the catalog said when it was placed. A `unitPrice` sent that differs is a ConflictError
 * `price_changed` naming each such line (`items.0.unitPrice`): the client shows the new price
 * instead of charging the old one. Only the tenant's own products are priced; a line naming any
 * other keeps the price sent (0 without one), and inventory rejects the order as unknown_product.
 */
export async function priceOrderLines(tx: Tx, tenantId: string, lines: RequestedLine[]): Promise<PricedLine[]> {
  const ids = [...new Set(lines.map((l) => l.productId))];
  const rows = await tx.select({ id: products.id, price: products.price }).from(products)
    .where(and(inArray(products.id, ids), eq(products.tenantId, tenantId)));
  const catalog = new Map(rows.map((r) => [r.id, r.price]));
  const changed: FieldProblem[] = [];
  const priced = lines.map((line, i) => {
    const price = catalog.get(line.productId);
    if (price === undefined) return { productId: line.productId, quantity: line.quantity, unitPrice: line.unitPrice ?? 0 };
    if (line.unitPrice !== undefined && toCents(line.unitPrice) !== toCents(price)) {
      changed.push({ path: `items.${i}.unitPrice`, message: `the price of product ${line.productId} is ${price}, not ${line.unitPrice}` });
    }
    return { productId: line.productId, quantity: line.quantity, unitPrice: price };
  });
  if (changed.length) throw new ConflictError("a price in the order is not the catalog's price", "price_changed", changed);
  if (orderTotalCents(priced) > toCents(MAX_MONEY)) {
    throw new InvalidInputError([{ path: "items", message: `the order total must not exceed ${MAX_MONEY}` }]);
  }
  return priced;
}

