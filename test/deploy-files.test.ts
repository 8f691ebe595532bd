// The deployment files are reviewed, not built here: these checks keep what they promise true
// (fly.toml against https://fly.io/docs/reference/configuration/, the Dockerfile against the
// official oven/bun image conventions) when someone edits one side and not the other.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../src/config.ts";
import { parseDuration } from "../src/lib/duration.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const read = (file: string) => readFileSync(`${ROOT}/${file}`, "utf8");

const fly = Bun.TOML.parse(read("fly.toml")) as Record<string, any>;
const pkg = JSON.parse(read("package.json")) as { scripts: Record<string, string>; engines: { bun: string } };
const SECRETS = ["DATABASE_URL", "REDIS_URL", "REDIS_CLUSTER_PASSWORD", "ADMIN_TOKEN", "WEBHOOK_SECRETS"];

/** fly.toml's [env] resolved by the service's own config schema (a dummy admin token stands in for the secret). */
const flyConfig = () => loadConfig({ ...(fly.env as Record<string, string>), ADMIN_TOKEN: "x".repeat(32) });

/** kill_timeout in ms: Fly documents whole seconds; flyctl also writes durations such as "30s". */
function killTimeoutMs(value: unknown): number | undefined {
  if (typeof value === "number") return value * 1000;
  return typeof value === "string" ? parseDuration(value) : undefined;
}

/** Dockerfile instructions, continuation lines joined, comments and parser directives dropped. */
function dockerInstructions(text: string): { op: string; args: string }[] {
  const joined = text.replace(/\\\r?\n/g, " ");
  return joined
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => {
      const [op = "", ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(" ") };
    });
}

describe("fly.toml", () => {
  const http = fly.http_service ?? {};

  test("its [env] passes the service's configuration schema and holds no secret", () => {
    expect(() => flyConfig()).not.toThrow();
    for (const name of SECRETS) expect(Object.keys(fly.env ?? {})).not.toContain(name);
  });

  test("the http service listens on PORT", () => {
    expect(http.internal_port).toBe(flyConfig().PORT);
  });

  test("machines never auto-stop and at least two are kept running", () => {
    expect(["off", false]).toContain(http.auto_stop_machines);
    expect(http.min_machines_running).toBeGreaterThanOrEqual(2);
  });

  test("readiness is checked on /health/ready", () => {
    const checks = (http.checks ?? []) as { path?: string; method?: string }[];
    expect(checks.map((c) => c.path)).toContain("/health/ready");
  });

  test("kill_signal is one the service handles and kill_timeout outlasts SHUTDOWN_TIMEOUT_MS", () => {
    expect(["SIGINT", "SIGTERM"]).toContain(fly.kill_signal);
    const timeout = killTimeoutMs(fly.kill_timeout);
    expect(timeout).toBeDefined();
    expect(timeout!).toBeGreaterThan(flyConfig().SHUTDOWN_TIMEOUT_MS);
    expect(timeout!).toBeLessThanOrEqual(300_000); // Fly's maximum
  });

  test("migrations are the release command, and the machines do not migrate themselves", () => {
    expect(fly.deploy?.release_command).toBe("bun run db:migrate");
    expect(pkg.scripts["db:migrate"]).toBeString();
    expect(flyConfig().MIGRATE_ON_START).toBe(false);
  });

  test("/metrics is served on METRICS_PORT, which Fly's scraper reads and the public http service does not expose", () => {
    const config = flyConfig();
    expect(config.METRICS_PORT).toBeNumber();
    expect(config.METRICS_PORT).not.toBe(config.PORT);
    const metrics = ([] as { port?: number; path?: string }[]).concat(fly.metrics ?? []);
    expect(metrics).toContainEqual(expect.objectContaining({ port: config.METRICS_PORT, path: "/metrics" }));
    expect(http.internal_port).not.toBe(config.METRICS_PORT);
    const services = ([] as { internal_port?: number }[]).concat(fly.services ?? []);
    expect(services.map((s) => s.internal_port)).not.toContain(config.METRICS_PORT);
  });
});

describe("Dockerfile", () => {
  const steps = dockerInstructions(read("Dockerfile"));
  const from = steps.filter((s) => s.op === "FROM");
  const lastStage = steps.slice(steps.lastIndexOf(from.at(-1)!));

  test("is multi-stage on the official Bun image, pinned to package.json's Bun version", () => {
    expect(from.length).toBeGreaterThanOrEqual(2);
    for (const s of from) expect(s.args).toMatch(/^oven\/bun:/);
    const version = steps.find((s) => s.op === "ARG" && s.args.startsWith("BUN_VERSION="))?.args.split("=")[1];
    expect(version).toBe(pkg.engines.bun);
  });

  test("installs production dependencies only, from the lockfile", () => {
    const install = steps.find((s) => s.op === "RUN" && /\bbun install\b/.test(s.args));
    expect(install?.args).toContain("--frozen-lockfile");
    expect(install?.args).toContain("--production");
    const copiesLock = steps.some((s) => s.op === "COPY" && /\bbun\.lock\b/.test(s.args) && steps.indexOf(s) < steps.indexOf(install!));
    expect(copiesLock).toBe(true);
  });

  test("copies patches/ before installing, so the patched dependencies are patched in the image", () => {
    const install = steps.find((s) => s.op === "RUN" && /\bbun install\b/.test(s.args))!;
    expect(steps.some((s) => s.op === "COPY" && /\bpatches\b/.test(s.args) && steps.indexOf(s) < steps.indexOf(install))).toBe(true);
  });

  test("the final stage runs as a non-root user", () => {
    const user = lastStage.filter((s) => s.op === "USER").at(-1)?.args;
    expect(user).toBeDefined();
    expect(["root", "0", "0:0"]).not.toContain(user!);
  });

  test("has a health check on /health/live", () => {
    const check = lastStage.find((s) => s.op === "HEALTHCHECK");
    expect(check?.args).toContain("/health/live");
  });

  test("starts `bun run start` and stops on SIGTERM", () => {
    const cmd = lastStage.filter((s) => s.op === "CMD").at(-1)?.args;
    expect(JSON.parse(cmd ?? "null")).toEqual(["bun", "run", "start"]);
    expect(pkg.scripts.start).toBeString();
    // No STOPSIGNAL means SIGTERM too; one that is set must be a signal the service handles.
    const stop = lastStage.find((s) => s.op === "STOPSIGNAL")?.args ?? "SIGTERM";
    expect(stop).toBe("SIGTERM");
  });
});

describe("docker-compose.yml", () => {
  test("runs Redis with noeviction and AOF persistence", () => {
    const compose = Bun.YAML.parse(read("docker-compose.yml")) as { services: Record<string, { command?: string[] | string }> };
    const command = ([] as string[]).concat(compose.services.redis?.command ?? []).join(" ");
    expect(command).toMatch(/--maxmemory-policy\s+noeviction/);
    expect(command).toMatch(/--appendonly\s+yes/);
    expect(compose.services.postgres).toBeDefined();
  });
});

describe("README, deploying to Fly.io", () => {
  const readme = read("README.md");
  const start = readme.indexOf("## Deploying to Fly.io");
  const section = readme.slice(start, readme.indexOf("\n## ", start + 1));

  test("names every secret to set and the machine count", () => {
    expect(start).toBeGreaterThanOrEqual(0);
    expect(section).toContain("fly secrets set");
    for (const name of SECRETS) expect(section).toContain(name);
    expect(section).toContain("fly scale count 3");
    expect(section).toContain("noeviction");
  });
});
