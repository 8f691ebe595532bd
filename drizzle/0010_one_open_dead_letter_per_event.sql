-- Open dead letters recorded twice for one (handler, event) before this index existed: the oldest
-- stays open and stands for the event; the others are marked resolved (their Redis copies, if any,
-- are left to the dead-letter stream's trimming and no longer listed as open).
UPDATE "dead_letters" d SET "status" = 'resolved', "resolved_at" = now()
WHERE d."status" = 'open' AND d."event_id" IS NOT NULL AND EXISTS (
  SELECT 1 FROM "dead_letters" o
  WHERE o."handler" = d."handler" AND o."event_id" = d."event_id" AND o."status" = 'open'
    AND (o."failed_at", o."id") < (d."failed_at", d."id")
);--> statement-breakpoint
CREATE UNIQUE INDEX "dead_letters_open_event_idx" ON "dead_letters" USING btree ("handler","event_id") WHERE status = 'open' and event_id is not null;
