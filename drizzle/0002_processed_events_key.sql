DROP INDEX "processed_events_event_idx";--> statement-breakpoint
ALTER TABLE "processed_events" DROP CONSTRAINT "processed_events_handler_event_id_pk";--> statement-breakpoint
ALTER TABLE "processed_events" ADD CONSTRAINT "processed_events_pkey" PRIMARY KEY("event_id","handler");