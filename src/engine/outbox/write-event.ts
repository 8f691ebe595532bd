import { AsyncLocalStorage } from "node:async_hooks";
import { sql } from "drizzle-orm";
import type { AnySchema, EngineDb, EngineTx } from "../db.ts";
import { activeTraceContext } from "../support/trace-context.ts";

export interface EventInput {
  eventType: string;
  payload: unknown;
  aggregateId?: string | null;
  tenantId?: string | null;
  idempotencyKey?: string | null;
  /** A delayed event: published once this time has come (a past time: at once). */
  availableAt?: Date | null;
  /** 0 to 10, higher first when the relay has a backlog. Defaults to the event type's priority, else 0. */
  priority?: number | null;
}

export interface WrittenEvent {
  id: string;
  eventType: string;
  createdAt: Date;
  /** True when idempotencyKey already named an event: that event is returned and nothing is written. */
  duplicate: boolean;
  /** For a duplicate, the first event's payload (to check the repeat against it); absent otherwise. */
  firstPayload?: unknown;
}

// Tells the enclosing commitWithEvents that an event was written. Scoped to the call, not to the
// tx object: an event written in a nested transaction (a savepoint, a different tx object) counts too.
const commitScope = new AsyncLocalStorage<{ wrote: boolean }>();

/**
 * Writes an event to the outbox inside the caller's transaction: it is published if and only if
 * that transaction commits. A repeated idempotencyKey returns the existing event instead of failing.
 * The active trace context (an HTTP request's, a handler run's) is stored with it, so its handlers'
 * runs continue that trace.
 */
export async function writeEvent<TSchema extends AnySchema>(tx: EngineTx<TSchema>, input: EventInput): Promise<WrittenEvent> {
  const payload = JSON.stringify(input.payload ?? null);
  const inserted = await tx.execute<{ id: string; created_at: Date }>(sql`
    insert into outbox (event_type, aggregate_id, tenant_id, payload, idempotency_key, available_at, priority, trace_context)
    values (${input.eventType}, ${input.aggregateId ?? null}, ${input.tenantId ?? null}, ${payload}::jsonb, ${input.idempotencyKey ?? null},
      ${input.availableAt ? input.availableAt.toISOString() : null}::timestamptz, ${input.priority ?? null}::smallint, ${activeTraceContext()}::jsonb)
    on conflict (idempotency_key) do nothing
    returning id, created_at`);
  const row = inserted[0];
  if (row) {
    const scope = commitScope.getStore();
    if (scope) scope.wrote = true;
    return { id: row.id, eventType: input.eventType, createdAt: new Date(row.created_at), duplicate: false };
  }
  // Only a taken idempotency key lands here; a concurrent writer of the same key has committed by now.
  const existing = await tx.execute<{ id: string; event_type: string; created_at: Date; payload: unknown }>(
    sql`select id, event_type, created_at, payload from outbox where idempotency_key = ${input.idempotencyKey ?? null}`,
  );
  const found = existing[0];
  if (!found) throw new Error("outbox idempotency conflict without an existing row");
  return { id: found.id, eventType: found.event_type, createdAt: new Date(found.created_at), duplicate: true, firstPayload: found.payload };
}

export interface Waker {
  wake(): void;
}

/**
 * Runs `fn` in a transaction and, once it has committed, wakes the local relay if `fn` wrote an
 * event, so the event is published at once rather than at the next tick. Never NOTIFYs from inside
 * the transaction (that would serialise every commit).
 */
export async function commitWithEvents<T, TSchema extends AnySchema>(db: EngineDb<TSchema>, relay: Waker | undefined, fn: (tx: EngineTx<TSchema>) => Promise<T>): Promise<T> {
  const scope = { wrote: false };
  const result = await commitScope.run(scope, () => db.transaction(fn));
  if (scope.wrote) relay?.wake();
  return result;
}
