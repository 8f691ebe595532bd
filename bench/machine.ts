// What the numbers were measured on: hardware, kernel, runtimes and the servers' durability settings.
import os from "node:os";
import postgres from "postgres";
import { createRedis } from "../src/engine/index.ts";
import { databaseUrl, REDIS_URL } from "./support/world.ts";

export interface Machine {
  cpu: string;
  cores: number;
  ramGb: number;
  kernel: string;
  bun: string;
  postgres: string;
  redis: string;
  /** Settings that change the numbers: commit durability, Redis persistence. */
  settings: Record<string, string>;
  /** 1-minute load average when the run started: other work on the machine skews everything. */
  loadAverage: number;
}

export async function describeMachine(): Promise<Machine> {
  const sql = postgres(databaseUrl("postgres"), { max: 1, onnotice: () => {} });
  const redis = createRedis(REDIS_URL);
  try {
    await redis.connect();
    const setting = async (name: string) => ((await sql.unsafe<{ v: string }[]>(`select current_setting('${name}') as v`))[0]?.v ?? "?");
    const info = await redis.info("server");
    const config = async (name: string) => ((await redis.config("GET", name)) as string[])[1] ?? "?";
    return {
      cpu: os.cpus()[0]?.model.trim() ?? "unknown",
      cores: os.cpus().length,
      ramGb: Math.round(os.totalmem() / 2 ** 30),
      kernel: `${os.type()} ${os.release()}`,
      bun: Bun.version,
      postgres: await setting("server_version"),
      redis: /redis_version:(\S+)/.exec(info)?.[1] ?? "?",
      settings: {
        "postgres synchronous_commit": await setting("synchronous_commit"),
        "postgres shared_buffers": await setting("shared_buffers"),
        "redis appendonly": await config("appendonly"),
        "redis appendfsync": await config("appendfsync"),
      },
      loadAverage: Math.round(os.loadavg()[0]! * 100) / 100,
    };
  } finally {
    redis.disconnect();
    await sql.end({ timeout: 1 });
  }
}
