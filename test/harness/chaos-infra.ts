// A private PostgreSQL cluster and Redis server (or Redis Cluster) for one chaos run, so its faults
// can really restart them: the machine's shared ones serve everybody else's tests and are never touched.
// stop() removes the processes and their directories. If the run ends first, an exit hook kills
// them by process id and deletes the directories; if it is killed outright (SIGKILL, or `timeout`
// signalling the whole process group twice), a reaper in a session of its own does.
import type { Subprocess } from "bun";
import { chownSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { createRedis, createRedisCluster } from "../../src/engine/index.ts";
import { freePort } from "../support/private-redis.ts";
import { startRedisCluster } from "../support/redis-cluster.ts";

const PG_BIN = process.env.CHAOS_PG_BIN ?? "/usr/lib/postgresql/15/bin";

export interface PrivateServer {
  readonly url: string;
  /** Stops the server (Redis: SHUTDOWN NOSAVE, every key gone; PostgreSQL: fast shutdown) and starts it again on the same port after `downMs`. */
  restart(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

// Synchronous last-resort cleanups, one per server still running: they run on process exit.
const leftovers = new Set<() => void>();
let hooked = false;
function onExitCleanup(fn: () => void): () => void {
  if (!hooked) {
    hooked = true;
    process.on("exit", () => {
      for (const cleanup of leftovers) cleanup();
    });
  }
  leftovers.add(fn);
  return () => leftovers.delete(fn);
}

/**
 * Watches this process from a session of its own, so signals sent to our process group do not
 * reach it. Once this process is gone, however it ended, it signals the process named in
 * `pidFile` (if its command line still contains `name`: a pid file can be stale) and deletes
 * `dir`. end() stops the watch once the server was removed the ordinary way.
 */
function startReaper(dir: string, pidFile: string, name: string, signal: "KILL" | "QUIT"): { end(): void } {
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done
pid=$(head -n1 "$1" 2>/dev/null) && grep -qa "$2" "/proc/$pid/cmdline" 2>/dev/null && kill -${signal} "$pid"
sleep 1; rm -rf "$3"`;
  const proc = Bun.spawn(["setsid", "sh", "-c", script, "chaos-reaper", pidFile, name, dir], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  proc.unref();
  return { end: () => proc.kill("SIGKILL") };
}

/** A redis-server with no persistence (`--save "" --appendonly no`): a restart loses every key. */
export async function startPrivateRedis(): Promise<PrivateServer> {
  const dir = mkdtempSync(join(tmpdir(), "orderstream-chaos-redis-"));
  const port = await freePort();
  let proc: Subprocess | null = null;
  const spawn = async () => {
    proc = Bun.spawn(
      ["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--pidfile", join(dir, "redis.pid"),
        "--logfile", join(dir, "redis.log"), "--loglevel", "warning", "--maxmemory-policy", "noeviction"],
      { stdin: "ignore", stdout: "ignore", stderr: "ignore" },
    );
    await waitUntil(`redis-server on port ${port}`, () => pingRedis(port), 10_000);
  };
  const kill = async () => {
    const running = proc;
    proc = null;
    if (!running) return;
    running.kill("SIGKILL");
    await running.exited;
  };
  const reaper = startReaper(dir, join(dir, "redis.pid"), "redis-server", "KILL");
  const forget = onExitCleanup(() => {
    proc?.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });
  const remove = async () => {
    await kill();
    rmSync(dir, { recursive: true, force: true });
    forget();
    reaper.end();
  };
  try {
    await spawn();
  } catch (err) {
    await remove();
    throw err;
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    async restart(downMs) {
      const client = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      client.on("error", () => {});
      await client.connect().then(() => client.call("SHUTDOWN", "NOSAVE")).catch(() => {}); // the connection drops with the server
      client.disconnect();
      const running = proc;
      const exited = await Promise.race([running?.exited.then(() => true), Bun.sleep(5_000).then(() => false)]);
      if (!exited) await kill();
      proc = null;
      await Bun.sleep(downMs);
      await spawn();
    },
    stop: remove,
  };
}

/**
 * A PostgreSQL cluster of its own (initdb into a temporary directory, trust auth, fsync off: its
 * durability is not under test, its restarts are). As root, the binaries run as `postgres`.
 */
export async function startPrivatePostgres(): Promise<PrivateServer> {
  const root = mkdtempSync(join(tmpdir(), "orderstream-chaos-pg-"));
  const data = join(root, "data");
  const port = await freePort();
  const asPostgres = process.getuid?.() === 0 ? ["runuser", "-u", "postgres", "--"] : [];
  if (asPostgres.length > 0) {
    const [uid, gid] = ["-u", "-g"].map((flag) => Number(Bun.spawnSync(["id", flag, "postgres"]).stdout.toString().trim()));
    chownSync(root, uid!, gid!);
  }
  const pgCtl = (...args: string[]) => run([...asPostgres, `${PG_BIN}/pg_ctl`, "-D", data, ...args], 60_000);
  const start = async () => {
    await pgCtl("-l", join(root, "postgres.log"), "-w", "-t", "30", "-o", `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`, "start");
  };
  const reaper = startReaper(root, join(data, "postmaster.pid"), "postgres", "QUIT");
  const forget = onExitCleanup(() => {
    // SIGQUIT is the postmaster's immediate shutdown; its pid is the first line of postmaster.pid.
    try {
      process.kill(Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0]), "SIGQUIT");
    } catch {}
    rmSync(root, { recursive: true, force: true });
  });
  const stopNow = async () => {
    await pgCtl("-m", "immediate", "-w", "stop").catch(() => {});
    rmSync(root, { recursive: true, force: true });
    forget();
    reaper.end();
  };
  try {
    await run([...asPostgres, `${PG_BIN}/initdb`, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"], 60_000);
    await start();
  } catch (err) {
    await stopNow();
    throw err;
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}`,
    async restart(downMs) {
      await pgCtl("-m", "fast", "-w", "-t", "30", "stop");
      await Bun.sleep(downMs);
      await start();
    },
    stop: stopNow,
  };
}

/** The Redis of a chaos run: one private server, or a private three-master Redis Cluster. */
export interface ChaosRedis {
  /** What the service processes are given: REDIS_URL, or REDIS_CLUSTER_NODES. */
  readonly env: Record<string, string>;
  /** For the log and the table. */
  readonly description: string;
  /** A client with the engine's policy, not connected yet. */
  client(): Redis;
  /** Keys held, over every master. */
  countKeys(): Promise<number>;
  /**
   * Redis loses its data: the server stopped without saving and started again after `downMs`;
   * on the cluster, one master (picked by `random`) restarted without its data. Says what it did.
   */
  loseData(downMs: number, random: () => number): Promise<string>;
  stop(): Promise<void>;
}

/** The single private redis-server as a chaos run's Redis. */
export async function startChaosRedis(): Promise<ChaosRedis> {
  const server = await startPrivateRedis();
  const port = Number(new URL(server.url).port);
  return {
    env: { REDIS_URL: server.url },
    description: `Redis ${server.url}`,
    client: () => createRedis(server.url),
    countKeys: () => withNode(port, (node) => node.dbsize()),
    async loseData(downMs) {
      await server.restart(downMs);
      return `SHUTDOWN NOSAVE, down ${(downMs / 1000).toFixed(1)} s`;
    },
    stop: () => server.stop(),
  };
}

/**
 * A private three-master Redis Cluster (no replicas, no persistence) as a chaos run's Redis.
 * Like the single server, its nodes are removed on exit, or by a reaper if this process is killed.
 */
export async function startChaosRedisCluster(): Promise<ChaosRedis> {
  const cluster = await startRedisCluster({ masters: 3 });
  const ports = cluster.nodes.map((n) => n.port);
  // Every node shares the cluster's temporary directory; the reaper shuts down only nodes still serving from it.
  const dir = await withNode(ports[0]!, async (node) => ((await node.config("GET", "dir")) as string[])[1]!);
  const shutdownAll = () => {
    for (const port of ports) Bun.spawnSync(["redis-cli", "-h", "127.0.0.1", "-p", String(port), "shutdown", "nosave"], { stdout: "ignore", stderr: "ignore" });
    rmSync(dir, { recursive: true, force: true });
  };
  const forget = onExitCleanup(shutdownAll);
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done
for port in ${ports.join(" ")}; do
  redis-cli -h 127.0.0.1 -p "$port" config get dir 2>/dev/null | grep -qxF "$1" && redis-cli -h 127.0.0.1 -p "$port" shutdown nosave
done
sleep 1; rm -rf "$1"`;
  const reaper = Bun.spawn(["setsid", "sh", "-c", script, "chaos-reaper", dir], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  reaper.unref();
  return {
    env: { REDIS_CLUSTER_NODES: cluster.spec },
    description: `Redis Cluster ${cluster.spec}`,
    client: () => createRedisCluster(cluster.nodes),
    async countKeys() {
      let total = 0;
      for (const port of ports) total += await withNode(port, (node) => node.dbsize());
      return total;
    },
    async loseData(_downMs, random) {
      const index = Math.floor(random() * ports.length);
      const held = await withNode(ports[index]!, (node) => node.dbsize()).catch(() => -1);
      await cluster.restartEmpty(index);
      return `master ${index + 1} of ${ports.length} (port ${ports[index]}, ${held} keys) restarted without its data`;
    },
    async stop() {
      await cluster.stop();
      forget();
      reaper.kill("SIGKILL");
    },
  };
}

/** Runs `fn` on a plain connection to one node (a cluster node answers for itself: DBSIZE, CONFIG). */
async function withNode<T>(port: number, fn: (node: Redis) => Promise<T>): Promise<T> {
  const node = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  node.on("error", () => {});
  try {
    await node.connect();
    return await fn(node);
  } finally {
    node.disconnect();
  }
}

/** Redis and PostgreSQL of a chaos run's own. */
export interface ChaosInfra {
  redis: ChaosRedis;
  postgres: PrivateServer;
  stop(): Promise<void>;
}

/** `cluster`: a three-master Redis Cluster instead of the single server. */
export async function startChaosInfra({ cluster = false } = {}): Promise<ChaosInfra> {
  const redis = cluster ? await startChaosRedisCluster() : await startChaosRedis();
  const pg = await startPrivatePostgres().catch(async (err) => {
    await redis.stop();
    throw err;
  });
  return {
    redis,
    postgres: pg,
    async stop() {
      await Promise.allSettled([redis.stop(), pg.stop()]);
    },
  };
}

async function pingRedis(port: number): Promise<boolean> {
  const client = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on("error", () => {});
  try {
    await client.connect();
    return (await client.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`${what} did not come up within ${timeoutMs} ms`);
    await Bun.sleep(50);
  }
}

/** Runs a command to its end; throws with the tail of its output when it fails or overruns. */
async function run(cmd: string[], timeoutMs: number): Promise<void> {
  const proc = Bun.spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited ${code}: ${(out + err).trim().split("\n").slice(-5).join(" | ")}`);
}
