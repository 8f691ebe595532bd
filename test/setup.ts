// Preloaded by bunfig.toml. Tests run against the machine's real PostgreSQL and Redis; each test
// creates its own schema and key prefix through test/support/context.ts.
import { setDefaultTimeout } from "bun:test";

process.env.NODE_ENV ??= "test";
// Integration tests wait on real deliveries, retries and child processes.
setDefaultTimeout(30_000);
