/**
 * The console's own Redis keys, all under STREAM_PREFIX. The engine reads `paused` (every
 * machine's consumer loops honour it); the rest is the console's.
 */
export const consoleKeys = {
  /** Hash: handler name -> JSON {since, by}. Present means the handler reads nothing new. */
  paused: (prefix: string) => `${prefix}:paused`,
  /** Hash of one minute's outcomes per handler (activity.ts), expiring after ACTIVITY_TTL_MS. */
  activityMinute: (prefix: string, minute: number) => `${prefix}:console:activity:${minute}`,
};
