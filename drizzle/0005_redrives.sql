CREATE TABLE "redrives" (
	"stream" text NOT NULL,
	"entry_id" text NOT NULL,
	"handler" text NOT NULL,
	"event_id" uuid NOT NULL,
	"event_type" text NOT NULL,
	"aggregate_id" text,
	"tenant_id" text,
	"payload" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"recorded_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "redrives_stream_entry_id_pk" PRIMARY KEY("stream","entry_id")
);
--> statement-breakpoint
CREATE INDEX "redrives_recorded_idx" ON "redrives" USING btree ("recorded_at");