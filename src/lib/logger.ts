import { DrizzleQueryError } from "drizzle-orm";
import type { LogFields, Logger } from "../engine/index.ts";

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
export type LogLevel = keyof typeof LEVELS;
export type { LogFields, Logger } from "../engine/index.ts";

export interface LoggerOptions {
  level?: LogLevel;
  service?: string;
  write?: (line: string) => void;
}

/** One JSON object per line on stdout; errors are reduced to name and message, never a stack of secrets. */
export function createLogger({ level = "info", service = "orderstream", write }: LoggerOptions = {}): Logger {
  const out = write ?? ((line: string) => process.stdout.write(line + "\n"));
  const min = LEVELS[level];
  const make = (bound: LogFields): Logger => {
    const emit = (lvl: LogLevel, msg: string, fields?: LogFields) => {
      if (LEVELS[lvl] < min) return;
      out(JSON.stringify({ time: new Date().toISOString(), level: lvl, service, msg, ...bound, ...serialise(fields) }));
    };
    return {
      debug: (m, f) => emit("debug", m, f),
      info: (m, f) => emit("info", m, f),
      warn: (m, f) => emit("warn", m, f),
      error: (m, f) => emit("error", m, f),
      child: (f) => make({ ...bound, ...f }),
    };
  };
  return make({});
}

function serialise(fields?: LogFields): LogFields | undefined {
  if (!fields) return undefined;
  const out: LogFields = {};
  for (const [k, v] of Object.entries(fields)) {
    out[k] = v instanceof Error ? describeError(v) : v;
  }
  return out;
}

/**
 * Name, message, the database's SQLSTATE code and the cause (what a wrapped error is about).
 * A failed drizzle query keeps its statement but not its parameters, which hold customer data.
 */
export function describeError(err: Error, depth = 0): LogFields {
  const cause = depth < 3 && err.cause instanceof Error ? { cause: describeError(err.cause, depth + 1) } : {};
  if (err instanceof DrizzleQueryError) return { name: "DrizzleQueryError", message: `failed query: ${err.query.replace(/\s+/g, " ").trim()}`, ...cause };
  const code = (err as { code?: unknown }).code;
  return { name: err.name, message: err.message, ...(typeof code === "string" ? { code } : {}), ...cause };
}

/** A URL safe to print: the password is replaced, everything else kept so the reader can act on it. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparseable URL)";
  }
}
