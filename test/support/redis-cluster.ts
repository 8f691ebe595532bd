import type { Subprocess } from "bun";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./private-redis.ts";

export interface ClusterNode {
  host: string;
  port: number;
}

export interface LocalRedisCluster {
  /** The masters, in slot order (the first serves slots 0..5460). */
  nodes: ClusterNode[];
  /** `127.0.0.1:a,127.0.0.1:b,...`: the value of REDIS_CLUSTER_NODES / TEST_REDIS_CLUSTER_NODES. */
  spec: string;
  /**
   * SIGKILLs master `index` and starts it again on its port with its node config but no data (nothing
   * is persisted): the cluster serves its slots again, empty, as after a shard lost its data.
   * Resolves once every node reports `cluster_state:ok` again.
   */
  restartEmpty(index: number): Promise<void>;
  /** Kills every node and removes their directory. Safe to call twice. */
  stop(): Promise<void>;
}

const HOST = "127.0.0.1";

async function cli(port: number, password: string | undefined, ...args: string[]): Promise<string> {
  const auth = password ? ["-a", password, "--no-auth-warning"] : [];
  const proc = Bun.spawn(["redis-cli", "-h", HOST, "-p", String(port), ...auth, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await proc.exited;
  return out + err;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > end) throw new Error(`local Redis Cluster: timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

/**
 * A real three-master Redis Cluster from the machine's own `redis-server`, on free ports, with no
 * persistence and no replicas, in a temporary directory; with `password`, every node requires it. Each node's cluster bus gets a port of
 * its own (`cluster-port`), so a data port near 65535 is no problem.
 */
export async function startRedisCluster({ masters = 3, password }: { masters?: number; password?: string } = {}): Promise<LocalRedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), "orderstream-cluster-"));
  const ports: number[] = [];
  const busPorts: number[] = [];
  while (ports.length < masters * 2) {
    const port = await freePort();
    if (!ports.includes(port)) ports.push(port);
  }
  busPorts.push(...ports.splice(masters));
  const procs: (Subprocess | null)[] = ports.map(() => null);

  const startNode = async (i: number) => {
    const port = ports[i]!;
    const proc = Bun.spawn([
      "redis-server",
      "--port", String(port), "--bind", HOST,
      "--cluster-enabled", "yes", "--cluster-port", String(busPorts[i]),
      "--cluster-config-file", join(dir, `nodes-${port}.conf`),
      "--cluster-node-timeout", "2000",
      "--save", "", "--appendonly", "no", "--dir", dir,
      "--loglevel", "warning",
      ...(password ? ["--requirepass", password, "--masterauth", password] : []),
    ], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    procs[i] = proc;
    await until(`redis-server on ${port}`, async () => (await cli(port, password, "ping")).trim() === "PONG", 10_000);
  };
  const killNode = async (i: number) => {
    const proc = procs[i];
    if (!proc) return;
    proc.kill("SIGKILL");
    await proc.exited;
    procs[i] = null;
  };
  const allOk = () => until("cluster_state:ok on every node", async () => {
    for (const port of ports) if (!(await cli(port, password, "cluster", "info")).includes("cluster_state:ok")) return false;
    return true;
  }, 30_000);

  const stop = async () => {
    await Promise.all(ports.map((_, i) => killNode(i)));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(ports.map((_, i) => startNode(i)));
    const created = await cli(ports[0]!, password, "--cluster", "create", ...ports.map((p) => `${HOST}:${p}`), "--cluster-replicas", "0", "--cluster-yes");
    if (!created.includes("[OK] All 16384 slots covered")) throw new Error(`redis-cli --cluster create failed:\n${created}`);
    await allOk();
  } catch (err) {
    await stop();
    throw err;
  }

  const nodes = ports.map((port) => ({ host: HOST, port }));
  return {
    nodes,
    spec: nodes.map((n) => `${n.host}:${n.port}`).join(","),
    async restartEmpty(index) {
      if (index < 0 || index >= ports.length) throw new Error(`no master ${index}`);
      await killNode(index);
      await startNode(index);
      await allOk();
    },
    stop,
  };
}

/** The nodes of `TEST_REDIS_CLUSTER_NODES` (`host:port,...`), or undefined when the suite runs on a single Redis. */
export function clusterNodesFromEnv(value = process.env.TEST_REDIS_CLUSTER_NODES): ClusterNode[] | undefined {
  if (!value) return undefined;
  return value.split(",").map((part) => {
    const [host, port] = part.trim().split(":");
    return { host: host!, port: Number(port) };
  });
}
