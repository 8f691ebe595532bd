import type { OpenDeadLetterCount, StreamState } from "../engine/index.ts";

/** Alerting thresholds of a queue (seed 003): more than this many waiting or failed is unhealthy. */
export const QUEUE_ALERTS = { waiting: 1_000, failed: 50 } as const;

export interface QueueSummary {
  waiting: number;
  active: number;
  failed: number;
  healthy: boolean;
}

export interface QueuesReport {
  totalQueues: number;
  healthyQueues: number;
  totalWaiting: number;
  totalActive: number;
  totalFailed: number;
  queues: Record<string, QueueSummary>;
}

/**
 * One queue per event type: waiting is the groups' lag, active their pending entries, failed the
 * open dead letters of the type (a type with dead letters is listed even if its stream is gone).
 * Unhealthy past QUEUE_ALERTS, or when a group has work and no live consumer.
 */
export function summarizeQueues(streams: StreamState[], deadLetters: OpenDeadLetterCount[]): QueuesReport {
  const failedByType = new Map<string, number>();
  for (const d of deadLetters) failedByType.set(d.eventType, (failedByType.get(d.eventType) ?? 0) + d.count);
  const byType = new Map(streams.map((s) => [s.eventType, s]));
  const types = [...new Set([...byType.keys(), ...failedByType.keys()])].sort();

  const queues: Record<string, QueueSummary> = {};
  for (const type of types) {
    const groups = byType.get(type)?.groups ?? [];
    const waiting = sum(groups.map((g) => g.lag));
    const active = sum(groups.map((g) => g.pending));
    const failed = failedByType.get(type) ?? 0;
    const abandoned = groups.some((g) => g.lag + g.pending > 0 && g.liveConsumers === 0);
    queues[type] = { waiting, active, failed, healthy: waiting <= QUEUE_ALERTS.waiting && failed <= QUEUE_ALERTS.failed && !abandoned };
  }
  const list = Object.values(queues);
  return {
    totalQueues: list.length,
    healthyQueues: list.filter((q) => q.healthy).length,
    totalWaiting: sum(list.map((q) => q.waiting)),
    totalActive: sum(list.map((q) => q.active)),
    totalFailed: sum(list.map((q) => q.failed)),
    queues,
  };
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
