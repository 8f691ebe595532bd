import type { DeadLetterDetail, EventTrace, DeadLetterItem, HandlerTrace } from "../reads/index.ts";
import { RowActions } from "./dead-letters.tsx";
import { Layout, when } from "./layout.tsx";

export function EventsPage({ csrf, open, q, traces }: { csrf: string | null; open: boolean; q: string; traces: EventTrace[] | null }) {
  return (
    <Layout title="Events" section="events" csrf={csrf} open={open}>
      <h1>Find an event</h1>
      <form method="get" action="/ui/events" class="filters">
        <label class="grow">event id or aggregate id <input name="q" value={q} placeholder="an event id, or an order id" data-testid="event-q" /></label>
        <button type="submit" data-testid="event-search">Look up</button>
      </form>
      {traces !== null && traces.length === 0 && <p class="muted" data-testid="no-event">No event with this id, and no event of this aggregate in the outbox or the dead letters.</p>}
      {traces?.map((t) => <Trace trace={t} />)}
    </Layout>
  );
}

const STAGE_LABEL: Record<HandlerTrace["stage"], string> = {
  processed: "processed", discarded: "discarded", dead_lettered: "dead-lettered", retrying: "retrying", in_flight: "in flight",
  waiting: "waiting", redriven: "retried, on its way", unpublished: "in the outbox", unknown: "delivered, no outcome yet",
};

export function Trace({ trace }: { trace: EventTrace }) {
  return (
    <section class="trace" data-testid="trace" data-event-id={trace.id}>
      <h2>{trace.eventType} <code>{trace.id}</code></h2>
      <dl class="facts">
        <dt>aggregate</dt><dd>{trace.aggregateId ?? "–"}</dd>
        <dt>tenant</dt><dd>{trace.tenantId ?? "–"}</dd>
        <dt>outbox</dt>
        <dd data-testid="outbox-state">
          {trace.inOutbox ? `written ${when(trace.createdAt)}, ${trace.publishedAt ? `published ${when(trace.publishedAt)} as ${trace.entryId ?? "?"}` : "not published yet"}` : "row deleted by retention (or never here)"}
        </dd>
      </dl>
      <table class="grid">
        <thead><tr><th>handler</th><th>where</th><th>when</th><th>attempts</th><th>next retry</th><th>consumer</th><th>error</th></tr></thead>
        <tbody>
          {trace.handlers.length === 0 && <tr><td colspan={7} class="muted">No handler reads this event type.</td></tr>}
          {trace.handlers.map((h) => (
            <tr data-handler={h.handler} data-testid={`stage-${h.handler}`}>
              <td>{h.handler}</td>
              <td><span class={`badge ${h.stage}`} data-testid="stage">{STAGE_LABEL[h.stage]}</span>{h.deadLetterId && <> <a href={`/ui/dead-letters/${h.deadLetterId}`}>dead letter</a></>}</td>
              <td>{when(h.at)}</td>
              <td class="num">{h.attempts ?? "–"}</td>
              <td>{when(h.nextRetryAt)}</td>
              <td>{h.consumer ?? "–"}</td>
              <td class="error">{h.error ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <details>
        <summary>payload</summary>
        <pre>{JSON.stringify(trace.payload, null, 2)}</pre>
      </details>
    </section>
  );
}

/** One dead letter: what failed and why, its event's journey, and every time this event was dead-lettered. */
export function DeadLetterPage(props: { csrf: string | null; open: boolean; letter: DeadLetterDetail; trace: EventTrace | null; history: DeadLetterItem[] }) {
  const { letter: d, csrf } = props;
  return (
    <Layout title="Dead letter" section="dead-letters" csrf={csrf} open={props.open}>
      <p><a href="/ui/dead-letters">← dead letters</a></p>
      <h1>Dead letter <code>{d.id}</code></h1>
      <table class="grid detail" data-testid="dead-letter-detail">
        <tbody>
          <tr data-testid="dead-letter" data-id={d.id}>
            <th>status</th><td><span class={`badge ${d.status}`} data-testid="status">{d.status}</span></td>
            <td class="actions">{d.status === "open" && <RowActions id={d.id} csrf={csrf} />}</td>
          </tr>
        </tbody>
      </table>
      <dl class="facts">
        <dt>event</dt><dd>{d.eventId ? <a href={`/ui/events?q=${d.eventId}`}>{d.eventId}</a> : "none (malformed entry)"}</dd>
        <dt>event type</dt><dd>{d.eventType}</dd>
        <dt>handler</dt><dd>{d.handler}</dd>
        <dt>reason</dt><dd>{d.reason}</dd>
        <dt>attempts</dt><dd>{d.attempts}</dd>
        <dt>failed</dt><dd>{when(d.failedAt)}</dd>
        <dt>resolved</dt><dd>{when(d.resolvedAt)}</dd>
        <dt>occurred</dt><dd>{when(d.occurredAt)}</dd>
        <dt>aggregate / tenant</dt><dd>{d.aggregateId ?? "–"} / {d.tenantId ?? "–"}</dd>
        <dt>stream entry</dt><dd>{d.stream} {d.entryId}</dd>
      </dl>
      <h2>Error</h2>
      <pre class="error" data-testid="error">{d.error}</pre>
      <h2>Payload</h2>
      <pre data-testid="payload">{typeof d.payload === "string" ? d.payload : JSON.stringify(d.payload, null, 2)}</pre>
      <h2>History of this event</h2>
      <table class="grid" data-testid="history">
        <thead><tr><th>failed</th><th>handler</th><th>reason</th><th>attempts</th><th>status</th></tr></thead>
        <tbody>
          {props.history.map((h) => (
            <tr><td><a href={`/ui/dead-letters/${h.id}`}>{when(h.failedAt)}</a></td><td>{h.handler}</td><td>{h.reason}</td><td class="num">{h.attempts}</td><td>{h.status}</td></tr>
          ))}
        </tbody>
      </table>
      {props.trace && <Trace trace={props.trace} />}
    </Layout>
  );
}
