import type Redis from "ioredis";
import { readStreamStates, type Engine } from "../engine/index.ts";
import { readPausedHandlers } from "./reads/index.ts";

/**
 * Handler names an operator may pause: every consumer group in Redis (the whole fleet's), this
 * process's own subscriptions (a group may be missing after Redis lost data) and handlers already
 * paused. Refusing other names keeps a typo from pausing nothing while looking done.
 */
export async function listKnownHandlers(deps: { redis: Redis; engine: Engine | null; config: { STREAM_PREFIX: string } }): Promise<Set<string>> {
  const prefix = deps.config.STREAM_PREFIX;
  const [streams, paused] = await Promise.all([readStreamStates(deps.redis, prefix), readPausedHandlers(deps.redis, prefix)]);
  return new Set([
    ...streams.flatMap((s) => s.groups.map((g) => g.handler)),
    ...(deps.engine?.subscriptions().map((s) => s.handler) ?? []),
    ...paused.keys(),
  ]);
}
