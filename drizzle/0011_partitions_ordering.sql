CREATE TABLE "ordered_backlog" (
	"position" bigserial PRIMARY KEY NOT NULL,
	"handler" text NOT NULL,
	"partition_key" text NOT NULL,
	"event_id" uuid NOT NULL,
	"event_type" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "parked_events" (
	"position" bigserial PRIMARY KEY NOT NULL,
	"handler" text NOT NULL,
	"event_type" text NOT NULL,
	"partition_key" text NOT NULL,
	"event_id" uuid NOT NULL,
	"redriven" boolean DEFAULT false NOT NULL,
	"parked_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "parked_keys" (
	"handler" text NOT NULL,
	"event_type" text NOT NULL,
	"partition_key" text NOT NULL,
	"dead_letter_id" uuid NOT NULL,
	"event_id" uuid NOT NULL,
	"parked_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "parked_keys_handler_event_type_partition_key_pk" PRIMARY KEY("handler","event_type","partition_key")
);
--> statement-breakpoint
CREATE TABLE "partition_fences" (
	"handler" text NOT NULL,
	"event_type" text NOT NULL,
	"partition" integer NOT NULL,
	"generation" integer DEFAULT 0 NOT NULL,
	"owner" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "partition_fences_handler_event_type_partition_pk" PRIMARY KEY("handler","event_type","partition")
);
--> statement-breakpoint
CREATE TABLE "stream_partitions" (
	"event_type" text PRIMARY KEY NOT NULL,
	"partitions" integer NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "outbox" ADD COLUMN "stream_partition" integer;--> statement-breakpoint
CREATE INDEX "ordered_backlog_key_idx" ON "ordered_backlog" USING btree ("handler","partition_key","position");--> statement-breakpoint
CREATE UNIQUE INDEX "ordered_backlog_event_idx" ON "ordered_backlog" USING btree ("event_id","handler");--> statement-breakpoint
CREATE INDEX "parked_events_key_idx" ON "parked_events" USING btree ("handler","event_type","partition_key","position");--> statement-breakpoint
CREATE UNIQUE INDEX "parked_events_event_idx" ON "parked_events" USING btree ("handler","event_id");--> statement-breakpoint
CREATE INDEX "parked_keys_dead_letter_idx" ON "parked_keys" USING btree ("dead_letter_id");