/** The console's own Redis keys, under `<STREAM_PREFIX>:console:` (a namespace the engine reserves for it). */
export const consoleKeys = {
  /** Hash of one minute's outcomes per handler (activity.ts), expiring after ACTIVITY_TTL_MS. */
  activityMinute: (prefix: string, minute: number) => `${prefix}:console:activity:${minute}`,
};
