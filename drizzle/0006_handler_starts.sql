CREATE TABLE "handler_starts" (
	"handler" text NOT NULL,
	"event_type" text NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"caught_up" boolean DEFAULT false NOT NULL,
	CONSTRAINT "handler_starts_handler_event_type_pk" PRIMARY KEY("handler","event_type")
);
--> statement-breakpoint
-- Handlers that ran before starts were recorded answer for every event, as they did.
INSERT INTO "handler_starts" ("handler", "event_type", "started_at", "caught_up")
SELECT DISTINCT p."handler", o."event_type", '-infinity'::timestamptz, true
FROM "processed_events" p JOIN "outbox" o ON o."id" = p."event_id"
UNION
SELECT DISTINCT d."handler", d."event_type", '-infinity'::timestamptz, true
FROM "dead_letters" d WHERE d."handler" <> 'relay'
ON CONFLICT DO NOTHING;
