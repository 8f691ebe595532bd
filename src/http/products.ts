import { Hono } from "hono";
import { z } from "zod";
import { createProduct, getProduct, productView } from "../products/products.ts";
import { identifier, line, money } from "../lib/validation.ts";
import { requireOwnTenant, tenantScope, type AuthEnv } from "./api-auth.ts";
import type { AppDeps } from "./app.ts";
import { notFound } from "./errors.ts";
import { requireJson, validate } from "./validate.ts";

const newProduct = z.strictObject({
  tenantId: identifier(),
  sku: identifier(100),
  name: line(200),
  price: money,
  stock: z.number().int().min(0).max(2_147_483_647),
});

export const idParam = z.object({ id: z.uuid() });

/** Products of the caller's tenant (apiAuth in app.ts): another tenant's is not found. */
export function productRoutes(deps: AppDeps): Hono<AuthEnv> {
  return new Hono<AuthEnv>()
    .post("/", requireJson, validate("json", newProduct), async (c) => {
      const input = c.req.valid("json");
      requireOwnTenant(c, input.tenantId);
      const product = await createProduct(deps.db, deps.engine?.relay ?? undefined, input);
      return c.json(productView(product), 201);
    })
    .get("/:id", validate("param", idParam), async (c) => {
      const product = await getProduct(deps.db, c.req.valid("param").id, tenantScope(c));
      if (!product) throw notFound("product");
      return c.json(productView(product));
    });
}
