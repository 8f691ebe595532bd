CREATE SEQUENCE "outbox_position_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1;--> statement-breakpoint
-- Added without a default, then given one: a volatile default in ADD COLUMN would rewrite the whole
-- outbox under an exclusive lock. Rows already there keep a null position.
ALTER TABLE "outbox" ADD COLUMN "position" bigint;--> statement-breakpoint
ALTER TABLE "outbox" ALTER COLUMN "position" SET DEFAULT nextval('outbox_position_seq');
