// The peer's outbox scanner (seed 000 "OutboxScanner"): on a timer, claim unprocessed rows
// FOR UPDATE SKIP LOCKED, push them into BullMQ with addBulk (jobId = outbox id, so a re-scan
// after a crash adds no duplicate job), mark them published, and keep going while batches are full.
// Given the same batch size and draining as our relay, so the comparison is of the transport.
import type { Queue } from "bullmq";
import type { Sql } from "../../src/db/client.ts";
import { deferCleanup } from "../support/cleanup.ts";
import type { PeerJob } from "./bullmq.ts";

export interface ScannerOptions {
  sql: Sql;
  queue: Queue<PeerJob>;
  batchSize: number;
  /** Time between scans (the seed: 5 s in development, 30 s in production). */
  intervalMs: number;
  onError: (err: Error) => void;
}

export interface Scanner {
  /** Scans now (or right after the scan in progress). */
  wake(): void;
  stop(): Promise<void>;
}

interface ScannedRow {
  id: string;
  event_type: string;
  tenant_id: string | null;
  payload: { row: number };
}

/** One batch: claim, addBulk, mark published, commit. Returns the rows it moved. */
export async function scanBatch(sql: Sql, queue: Queue<PeerJob>, batchSize: number): Promise<number> {
  return sql.begin(async (tx) => {
    const rows = await tx<ScannedRow[]>`
      select id, event_type, tenant_id, payload from outbox
      where published_at is null
      order by created_at
      limit ${batchSize}
      for update skip locked`;
    if (rows.length === 0) return 0;
    await queue.addBulk(rows.map((r) => ({ name: r.event_type, data: { id: r.id, type: r.event_type, tenantId: r.tenant_id, payload: r.payload }, opts: { jobId: r.id } })));
    await tx`update outbox set published_at = now() where id = any(${rows.map((r) => r.id)}::uuid[])`;
    return rows.length;
  });
}

/** Scans every `intervalMs`; scans never overlap. */
export function startScanner({ sql, queue, batchSize, intervalMs, onError }: ScannerOptions): Scanner {
  let current: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  const drain = async () => {
    try {
      while (!stopped && (await scanBatch(sql, queue, batchSize)) === batchSize);
    } catch (err) {
      onError(err as Error);
    }
  };
  const trigger = () => {
    if (stopped) return;
    if (current) {
      again = true;
      return;
    }
    current = (async () => {
      do {
        again = false;
        await drain();
      } while (again && !stopped);
      current = null;
    })();
  };
  const timer = setInterval(trigger, intervalMs);
  const stop = deferCleanup("peer scanner", async () => {
    stopped = true;
    clearInterval(timer);
    await current;
  });
  return { wake: trigger, stop };
}
