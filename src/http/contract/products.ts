import { createRoute, z } from "@hono/zod-openapi";
import { identifier, line, money } from "../../lib/validation.ts";
import { requireJson } from "../validate.ts";
import { errorResponses, IdParam, jsonBody, jsonResponse, reuse, SECURITY, timestamp } from "./shared.ts";

export const NewProduct = z
  .strictObject({
    tenantId: identifier(),
    sku: identifier(100),
    name: line(200),
    price: reuse(money).openapi({ description: "Major units, at most two decimals (a multiple of 0.01)." }),
    stock: z.number().int().min(0).max(2_147_483_647),
  })
  .openapi("NewProduct", { example: { tenantId: "tenant-123", sku: "MUG-1", name: "Mug", price: 12.5, stock: 40 } });

export const Product = z
  .object({
    id: z.uuid(), tenantId: z.string(), sku: z.string(), name: z.string(), price: z.number(), stock: z.int(),
    createdAt: timestamp(), updatedAt: timestamp(),
  })
  .openapi("Product", {
    example: {
      id: "0b9a7f3e-5c1d-4e2f-9a8b-7c6d5e4f3a21", tenantId: "tenant-123", sku: "MUG-1", name: "Mug", price: 12.5, stock: 40,
      createdAt: "2026-12-03T10:30:00.000Z", updatedAt: "2026-12-03T10:30:00.000Z",
    },
  });

export const createProductRoute = createRoute({
  method: "post", path: "/", tags: ["Products"], operationId: "createProduct", security: SECURITY.tenant,
  summary: "Create a product",
  description: "Adds a product to the tenant's catalog and emits `product.created` in the same transaction.",
  middleware: [requireJson] as const,
  request: { body: jsonBody(NewProduct) },
  responses: {
    201: jsonResponse(Product, "The product."),
    ...errorResponses(400, 401, 403, 413),
    409: { description: "The tenant already has a product with this `sku` (`conflict`).", content: errorResponses(409)[409].content },
  },
});

export const getProductRoute = createRoute({
  method: "get", path: "/{id}", tags: ["Products"], operationId: "getProduct", security: SECURITY.tenant,
  summary: "Read a product",
  description: "The product with its current stock; another tenant's product is a 404.",
  request: { params: IdParam },
  responses: { 200: jsonResponse(Product, "The product."), ...errorResponses(400, 401, 404) },
});
