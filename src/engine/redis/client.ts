import Redis, { Cluster, Command, type ChainableCommander } from "ioredis";

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
  return reconnectOnTimeout(failInFlightOnClose(redis));
}

/** A node of a Redis Cluster to start from; the client learns the others from it. */
export interface ClusterNode {
  host: string;
  port: number;
}

/** How every node of a cluster is reached: the same password (AUTH) and TLS on all of them. */
export interface ClusterAccess {
  password?: string;
  tls?: boolean;
}

/**
 * A Redis Cluster client with createRedis's policy, typed as the `Redis` the engine takes.
 * `pipeline()` on it sends the queued commands of each slot to that slot's node as one pipeline
 * and answers exec() in the usual `[err, result][]` shape: the engine's pipelines only save round
 * trips, none relies on them being atomic.
 * MGET is split the same way; INFO answers from one master (the one serving slot 0). MULTI and Lua
 * scripts still run on one node, and every key they touch must share one slot.
 */
export function createRedisCluster(nodes: ClusterNode[], commandTimeout = REDIS_COMMAND_TIMEOUT_MS, { password, tls = false }: ClusterAccess = {}): Redis {
  const cluster = new Cluster(nodes, {
    lazyConnect: true,
    // A command that found its node's connection closed is not sent again (createRedis'
    // autoResendUnfulfilledCommands: false); redirections (MOVED, ASK, TRYAGAIN, CLUSTERDOWN) are
    // answers the server gave without running the command, and are followed.
    retryDelayOnFailover: 0,
    redisOptions: { commandTimeout, autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 3, password, ...(tls ? { tls: {} } : {}) },
  });
  return clusterPolicy(cluster, commandTimeout);
}

// Commands that failed (timed out) before a node got them; see reconnectOnTimeout.
const failedEarly = new WeakSet<Command>();

function clusterPolicy(cluster: Cluster, commandTimeout: number): Redis {
  cluster.on("error", () => {});
  cluster.on("node error", () => {});
  // The nodes' own timeouts start when a command reaches a node; one still waiting for the
  // cluster to connect would wait forever. The first timer set on a command is the one that counts.
  const send = cluster.sendCommand.bind(cluster);
  cluster.sendCommand = ((command: Command, ...rest: unknown[]) => {
    command.setTimeout(commandTimeout);
    command.promise.catch(() => failedEarly.add(command));
    return (send as (...args: unknown[]) => unknown)(command, ...rest);
  }) as Cluster["sendCommand"];
  cluster.on("+node", (node: Redis) => {
    node.on("error", () => {});
    reconnectOnTimeout(failInFlightOnClose(node), () => node.disconnect());
  });
  const realPipeline = cluster.pipeline.bind(cluster) as () => ChainableCommander;
  cluster.pipeline = (() => slotPipeline(cluster, realPipeline, commandTimeout)) as Cluster["pipeline"];
  // MGET of keys in different slots is refused; one GET each gives the same answer (an MGET is
  // not atomic across a cluster's nodes either). The engine reads consumer names this way.
  cluster.mget = ((...args: unknown[]) =>
    Promise.all((args.flat() as string[]).map((key) => cluster.get(key)))) as Cluster["mget"];
  // INFO names no key, so any node could answer it, and a server's run id would change from one
  // call to the next (which reads as a restart). It is asked of the master serving slot 0.
  const anyInfo = cluster.info.bind(cluster) as (...args: unknown[]) => Promise<string>;
  cluster.info = (async (...args: unknown[]) => {
    if (cluster.status !== "ready") await cluster.ping();
    const first = cluster.slots[0]?.[0];
    const node = cluster.nodes("master").find((n) => `${n.options.host}:${n.options.port}` === first);
    return node ? (node.info as (...a: unknown[]) => Promise<string>)(...args) : anyInfo(...args);
  }) as Cluster["info"];
  return cluster as unknown as Redis;
}

/** True for a client from createRedisCluster. */
export function isCluster(redis: Redis): boolean {
  return (redis as { isCluster?: boolean }).isCluster === true;
}

/**
 * A stand-in for ioredis' pipeline on a cluster, which refuses commands of different slots: the
 * queued commands are grouped by the slot their keys hash to, each group goes out as one real
 * pipeline (one write, one round trip to its node), all groups at once, and exec() answers each
 * command's `[error, result]` in the order queued. Commands of one slot keep their order; those of
 * different slots are independent, as on separate connections.
 */
function slotPipeline(cluster: Cluster, realPipeline: () => ChainableCommander, commandTimeout: number): ChainableCommander {
  const queued: [string, unknown[]][] = [];
  const send = (name: string, args: unknown[]) => (cluster as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[name]!(...args);
  const proxy: ChainableCommander = new Proxy({} as ChainableCommander, {
    get(_, name) {
      if (name === "length") return queued.length;
      if (name === "exec") {
        return async () => {
          const out: [Error | null, unknown][] = new Array(queued.length);
          const groups = new Map<string, number[]>();
          queued.forEach(([command, args], i) => {
            const tag = slotGroup(command, args) ?? `\u0000${i}`; // no key: on its own
            groups.set(tag, [...(groups.get(tag) ?? []), i]);
          });
          await Promise.all([...groups.values()].map(async (indexes) => {
            if (indexes.length === 1) {
              const [command, args] = queued[indexes[0]!]!;
              out[indexes[0]!] = await send(command, args).then((r): [null, unknown] => [null, r], (err: Error): [Error, null] => [err, null]);
              return;
            }
            const pipeline = realPipeline();
            for (const i of indexes) (pipeline as unknown as Record<string, (...a: unknown[]) => unknown>)[queued[i]![0]]!(...queued[i]![1]);
            // A pipeline waits for the cluster to connect without a timeout of its own (its commands'
            // start at their node): bounded here like every single command.
            let timer: ReturnType<typeof setTimeout> | undefined;
            const timedOut = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("Command timed out")), commandTimeout)));
            const replies = await Promise.race([pipeline.exec(), timedOut])
              .catch((err: Error) => indexes.map((): [Error, null] => [err, null]))
              .finally(() => clearTimeout(timer));
            indexes.forEach((i, n) => (out[i] = (replies?.[n] as [Error | null, unknown] | undefined) ?? [new Error("no reply"), null]));
          }));
          return out;
        };
      }
      if (typeof name !== "string" || name === "then" || typeof (cluster as unknown as Record<string, unknown>)[name] !== "function") return undefined;
      return (...args: unknown[]) => {
        queued.push([name, args]);
        return proxy;
      };
    },
  });
  return proxy;
}

/**
 * What decides the slot of a command's keys: the hash tag (the part between the first `{` and the
 * next `}`, if not empty) or else the whole key. Commands with the same one share a slot; null for
 * a command without keys, or whose keys would not share one (Redis refuses those anyway).
 */
function slotGroup(command: string, args: unknown[]): string | null {
  const keys = new Command(command, args as string[]).getKeys().map(String);
  if (keys.length === 0) return null;
  const tags = new Set(keys.map(hashTag));
  return tags.size === 1 ? [...tags][0]! : null;
}

function hashTag(key: string): string {
  const open = key.indexOf("{");
  const close = open < 0 ? -1 : key.indexOf("}", open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

/**
 * With autoResendUnfulfilledCommands off, ioredis drops the commands in flight when a connection
 * closes and it reconnects, without settling them: each then waited out its command timeout
 * (10 s), so every Redis call cut by a restart (a relay's XADDs, a batch's acks) held its work
 * that long. They fail at once instead, as the option intends, and their callers retry.
 */
function failInFlightOnClose(redis: Redis): Redis {
  redis.on("close", () => {
    const queue = (redis as unknown as { commandQueue?: { shift(): { command: Command } | undefined } }).commandQueue;
    for (let item = queue?.shift(); item; item = queue!.shift()) item.command.reject(new Error(CONNECTION_CLOSED));
  });
  return redis;
}

/** ioredis' own message for a command that cannot be answered because its connection closed. */
const CONNECTION_CLOSED = "Connection is closed.";

/**
 * A command that timed out was lost by the client or the server, and ioredis pairs replies with
 * commands in order: every later reply could go to the wrong command. So the first timeout drops
 * the connection (failing what is queued, which callers retry) and reconnects from a clean state
 * (a cluster's node connection is dropped and opened again when the cluster next needs it).
 */
function reconnectOnTimeout(redis: Redis, reset = () => redis.disconnect(true)): Redis {
  const send = redis.sendCommand.bind(redis);
  let resetting = false;
  redis.sendCommand = (command: Command, stream?: Parameters<Redis["sendCommand"]>[1]) => {
    // Already settled (timed out while a cluster waited to connect): its reply means nothing here.
    const settled = command.isResolved || failedEarly.has(command);
    const result = send(command, stream);
    command.promise.catch((err: unknown) => {
      if (settled || resetting || !(err instanceof Error) || err.message !== "Command timed out") return;
      resetting = true;
      redis.once("ready", () => (resetting = false));
      reset();
    });
    return result;
  };
  return redis;
}

/** A second connection with the same settings, for a command that blocks (XREADGROUP BLOCK). */
export function duplicateRedis(redis: Redis, blockMs = 0): Redis {
  // A blocking read answers after up to blockMs by design; only beyond that is it lost.
  const commandTimeout = REDIS_COMMAND_TIMEOUT_MS + blockMs;
  if (isCluster(redis)) {
    const cluster = redis as unknown as Cluster;
    return clusterPolicy(cluster.duplicate([], { redisOptions: { ...cluster.options.redisOptions, commandTimeout } }), commandTimeout);
  }
  const copy = redis.duplicate({ commandTimeout });
  copy.on("error", () => {});
  return reconnectOnTimeout(failInFlightOnClose(copy));
}
