CREATE SEQUENCE "outbox_position_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1;--> statement-breakpoint
-- Added without a default, then given one: a volatile default in ADD COLUMN would rewrite the whole
-- outbox under an exclusive lock. Rows already there keep a null position.
ALTER TABLE "outbox" ADD COLUMN "position" bigint;--> statement-breakpoint
ALTER TABLE "outbox" ALTER COLUMN "position" SET DEFAULT nextval('outbox_position_seq');--> statement-breakpoint
-- Partial indexes over the unpublished rows only: rebuilt in a moment.
DROP INDEX "outbox_unpublished_idx";--> statement-breakpoint
DROP INDEX "outbox_priority_idx";--> statement-breakpoint
CREATE INDEX "outbox_unpublished_idx" ON "outbox" USING btree ("created_at","position") WHERE "outbox"."published_at" is null and "outbox"."available_at" is null;--> statement-breakpoint
CREATE INDEX "outbox_priority_idx" ON "outbox" USING btree ("priority" DESC NULLS LAST,"created_at","position") WHERE "outbox"."published_at" is null and "outbox"."available_at" is null;
