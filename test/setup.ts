// Preloaded by bunfig.toml. Tests run against the machine's real PostgreSQL and Redis; each test
// creates its own schema and key prefix through test/support/context.ts. The per-test timeout
// (30 s: real deliveries, retries and child processes) is set by `bun run test`.
process.env.NODE_ENV ??= "test";
