export interface BackoffOptions {
  initialMs: number;
  multiplier: number;
  maxMs: number;
}

/** The share of a delay that jitter may add or take away, so retries of a burst spread out. */
export const JITTER = 0.2;

/** Delay before the next delivery after `attempt` failed deliveries (1-based), jittered, capped at maxMs. */
export function backoffDelay(attempt: number, { initialMs, multiplier, maxMs }: BackoffOptions, random = Math.random): number {
  const base = Math.min(initialMs * multiplier ** Math.max(0, attempt - 1), maxMs);
  const jittered = base * (1 + (random() * 2 - 1) * JITTER);
  return Math.max(0, Math.round(Math.min(jittered, maxMs)));
}
