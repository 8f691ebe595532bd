/**
 * Reports each distinct message once and stops after `max` lines in all: a component that fails
 * in a loop (a Worker whose Redis is gone) must never flood the terminal or a captured log.
 */
export function logOnce(label: string, max = 20): (err: unknown) => void {
  const seen = new Set<string>();
  return (err) => {
    const message = err instanceof Error ? err.message : String(err);
    if (seen.has(message) || seen.size >= max) return;
    seen.add(message);
    console.error(`[${label}] ${message.slice(0, 300)}${seen.size === max ? " (further messages suppressed)" : ""}`);
  };
}

/** A logger `write` for the engine: at most `max` lines, then silence. */
export function cappedWrite(max = 50): (line: string) => void {
  let written = 0;
  return (line) => {
    if (written++ < max) process.stderr.write(line.slice(0, 500) + "\n");
    else if (written === max + 1) process.stderr.write("(further engine log lines suppressed)\n");
  };
}
