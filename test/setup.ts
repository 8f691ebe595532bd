// Preloaded by bunfig.toml. Tests run against the machine's real PostgreSQL and Redis; each test
// creates its own schema and key prefix through test/support/context.ts.
process.env.NODE_ENV ??= "test";
