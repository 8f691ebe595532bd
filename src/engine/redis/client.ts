import Redis, { type Command } from "ioredis";

/**
 * No Redis call may stay pending forever: ioredis can lose a command that was in flight when the
 * connection dropped (redis/ioredis#800, #2193), and the relay holds PostgreSQL row and advisory
 * locks while it waits for XADD. A command without a reply by then fails like any Redis error.
 */
export const REDIS_COMMAND_TIMEOUT_MS = 10_000;

/**
 * A client with the engine's policy: connection errors surface through the commands that fail
 * (not as unhandled events), every command has a timeout, and nothing is re-sent on its own.
 */
export function createRedis(url: string, commandTimeout = REDIS_COMMAND_TIMEOUT_MS): Redis {
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 3,
    commandTimeout,
    // A command in flight when the connection drops fails instead of being sent again: a resent
    // SET NX answers "taken" to its own first write, a resent HINCRBY counts twice. Every caller
    // here retries a failed call itself, knowing whether that is safe.
    autoResendUnfulfilledCommands: false,
  });
  redis.on("error", () => {});
  return reconnectOnTimeout(redis);
}

/**
 * A command that timed out was lost by the client or the server, and ioredis pairs replies with
 * commands in order: every later reply could go to the wrong command. So the first timeout drops
 * the connection (failing what is queued, which callers retry) and reconnects from a clean state.
 */
function reconnectOnTimeout(redis: Redis): Redis {
  const send = redis.sendCommand.bind(redis);
  let resetting = false;
  redis.sendCommand = (command: Command, stream?: Parameters<Redis["sendCommand"]>[1]) => {
    const result = send(command, stream);
    command.promise.catch((err: unknown) => {
      if (resetting || !(err instanceof Error) || err.message !== "Command timed out") return;
      resetting = true;
      redis.once("ready", () => (resetting = false));
      redis.disconnect(true);
    });
    return result;
  };
  return redis;
}

/** A second connection with the same settings, for a command that blocks (XREADGROUP BLOCK). */
export function duplicateRedis(redis: Redis, blockMs = 0): Redis {
  // A blocking read answers after up to blockMs by design; only beyond that is it lost.
  const copy = redis.duplicate({ commandTimeout: REDIS_COMMAND_TIMEOUT_MS + blockMs });
  copy.on("error", () => {});
  return reconnectOnTimeout(copy);
}
