-- A payment that arrives while its order is pending waits, recorded, for the order's decision
-- instead of being retried until then. Constant defaults: no table rewrite.
ALTER TABLE "orders" ADD COLUMN "payments_awaiting" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "awaiting_decision" boolean DEFAULT false NOT NULL;