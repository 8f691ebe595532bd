DROP INDEX "dead_letters_open_idx";--> statement-breakpoint
CREATE INDEX "dead_letters_status_idx" ON "dead_letters" USING btree ("status","failed_at","id");--> statement-breakpoint
UPDATE "dead_letters" SET "status" = 'discarded' WHERE "status" = 'deleted';
