CREATE TABLE "engine_state" (
	"prefix" text PRIMARY KEY NOT NULL,
	"first_sentinel_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_sentinel_at" timestamp with time zone DEFAULT now() NOT NULL
);
