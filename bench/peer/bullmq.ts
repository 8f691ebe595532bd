// The peer's queue (seed 000: "OutboxScanner -> BullMQ Queue -> EventProcessor"), with the seed's
// job settings: 3 attempts, exponential backoff from 2 s, keep 100 completed and 50 failed jobs.
import { Queue, Worker, type ConnectionOptions, type Job } from "bullmq";
import { deferCleanup } from "../support/cleanup.ts";
import { logOnce } from "../support/log-once.ts";
import { REDIS_URL, type World } from "../support/world.ts";

const READY_TIMEOUT_MS = 10_000;

export interface PeerJob<P = { row: number }> {
  id: string;
  type: string;
  tenantId: string | null;
  payload: P;
}

/** BullMQ's own connections; it requires maxRetriesPerRequest null for its blocking commands. */
function connection(): ConnectionOptions {
  const url = new URL(REDIS_URL);
  return { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
}

/** A queue under the world's prefix (BullMQ keys are `<prefix>:<queue>:...`). */
export function createPeerQueue(world: World, name: string): { queue: Queue<PeerJob>; close: () => Promise<void> } {
  const queue = new Queue<PeerJob>(name, {
    connection: connection(),
    prefix: world.prefix,
    defaultJobOptions: { attempts: 3, backoff: { type: "exponential", delay: 2000 }, removeOnComplete: { count: 100 }, removeOnFail: { count: 50 } },
  });
  queue.on("error", logOnce(`peer queue ${name}`));
  const close = deferCleanup(`peer queue ${name}`, () => queue.close());
  return { queue, close };
}

export interface PeerWorkerOptions {
  concurrency: number;
  process: (job: Job<PeerJob>) => Promise<void>;
  onCompleted: (job: Job<PeerJob>) => void;
  /** A failed attempt or a worker error: the benchmark counts it as this side erroring. */
  onProblem: (err: Error) => void;
}

/** A BullMQ Worker in this process; resolves once it is connected. */
export async function startPeerWorker(world: World, name: string, opts: PeerWorkerOptions): Promise<{ worker: Worker<PeerJob>; close: () => Promise<void> }> {
  const worker = new Worker<PeerJob>(name, opts.process, { connection: connection(), prefix: world.prefix, concurrency: opts.concurrency });
  const report = logOnce(`peer worker ${name}`);
  worker.on("error", (err) => {
    report(err);
    opts.onProblem(err);
  });
  worker.on("failed", (job, err) => opts.onProblem(new Error(`peer: job ${job?.id} failed: ${err.message}`)));
  worker.on("completed", (job) => opts.onCompleted(job));
  const close = deferCleanup(`peer worker ${name}`, () => worker.close(true));
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    worker.waitUntilReady(),
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`peer worker ${name}: Redis not ready within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS))),
  ]).finally(() => clearTimeout(timer));
  return { worker, close };
}
