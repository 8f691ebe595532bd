CREATE TABLE "event_priorities" (
	"event_type" text PRIMARY KEY NOT NULL,
	"priority" smallint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "schedules" (
	"name" text PRIMARY KEY NOT NULL,
	"cron" text NOT NULL,
	"timezone" text DEFAULT 'UTC' NOT NULL,
	"event_type" text NOT NULL,
	"payload" jsonb NOT NULL,
	"catch_up" text DEFAULT 'latest' NOT NULL,
	"paused" boolean DEFAULT false NOT NULL,
	"source" text DEFAULT 'api' NOT NULL,
	"next_fire_at" timestamp with time zone,
	"last_fired_at" timestamp with time zone,
	"last_due_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
DROP INDEX "outbox_unpublished_idx";--> statement-breakpoint
ALTER TABLE "outbox" ADD COLUMN "available_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "outbox" ADD COLUMN "priority" smallint;--> statement-breakpoint
CREATE INDEX "schedules_next_fire_idx" ON "schedules" USING btree ("next_fire_at") WHERE not "schedules"."paused";--> statement-breakpoint
CREATE INDEX "outbox_priority_idx" ON "outbox" USING btree ("priority" DESC NULLS LAST,"created_at") WHERE "outbox"."published_at" is null and "outbox"."available_at" is null;--> statement-breakpoint
CREATE INDEX "outbox_delayed_idx" ON "outbox" USING btree ("available_at") WHERE "outbox"."published_at" is null and "outbox"."available_at" is not null;--> statement-breakpoint
CREATE INDEX "outbox_unpublished_idx" ON "outbox" USING btree ("created_at") WHERE "outbox"."published_at" is null and "outbox"."available_at" is null;--> statement-breakpoint
UPDATE "outbox" SET "priority" = 0 WHERE "priority" IS NULL;--> statement-breakpoint
-- A row inserted without a priority (plain SQL from another service) takes its event type's.
CREATE OR REPLACE FUNCTION "outbox_default_priority"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW."priority" IS NULL THEN
    NEW."priority" := COALESCE((SELECT p."priority" FROM "event_priorities" p WHERE p."event_type" = NEW."event_type"), 0);
  END IF;
  RETURN NEW;
END $$;--> statement-breakpoint
CREATE TRIGGER "outbox_default_priority" BEFORE INSERT ON "outbox" FOR EACH ROW EXECUTE FUNCTION "outbox_default_priority"();
