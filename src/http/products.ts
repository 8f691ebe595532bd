import { createProduct, getProduct, productView } from "../products/products.ts";
import { requireOwnTenant, tenantScope, type AuthEnv } from "./api-auth.ts";
import type { AppDeps } from "./app.ts";
import { createProductRoute, getProductRoute } from "./contract/products.ts";
import { notFound } from "./errors.ts";
import { openApiRoutes } from "./validate.ts";

/** Products of the caller's tenant (apiAuth in app.ts): another tenant's is not found. */
export function productRoutes(deps: AppDeps) {
  return openApiRoutes<AuthEnv>()
    .openapi(createProductRoute, async (c) => {
      const input = c.req.valid("json");
      requireOwnTenant(c, input.tenantId);
      const product = await createProduct(deps.db, deps.engine?.relay ?? undefined, input);
      return c.json(productView(product), 201);
    })
    .openapi(getProductRoute, async (c) => {
      const product = await getProduct(deps.db, c.req.valid("param").id, tenantScope(c));
      if (!product) throw notFound("product");
      return c.json(productView(product), 200);
    });
}
