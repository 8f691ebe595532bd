import type Redis from "ioredis";

/**
 * Creates the consumer group (and the stream) if missing. The group starts at the beginning of
 * the stream, so events relayed before a handler's first start still reach it.
 */
export async function ensureGroup(redis: Redis, stream: string, group: string): Promise<void> {
  try {
    await redis.xgroup("CREATE", stream, group, "0", "MKSTREAM");
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith("BUSYGROUP")) throw err;
  }
}

export function isNoGroupError(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith("NOGROUP");
}

/**
 * Recreates a group that existed and was lost, at the stream's end: entries already in the stream
 * (some of them processed or dead-lettered by this handler) are not delivered again. Whatever it
 * still needed is re-published from the outbox by the recovery that must follow. True if created.
 */
export async function recreateGroupAtEnd(redis: Redis, stream: string, group: string): Promise<boolean> {
  try {
    await redis.xgroup("CREATE", stream, group, "$", "MKSTREAM");
    return true;
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith("BUSYGROUP")) throw err;
    return false;
  }
}
