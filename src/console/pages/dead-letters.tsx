import type { DeadLetterQuery, DeadLetterItem } from "../reads/index.ts";
import { Csrf, Layout, when } from "./layout.tsx";

export interface DeadLettersView {
  search: DeadLetterQuery;
  /** The payload path typed in (without "payload."), shown back in its box. */
  path: string;
  facets: { eventTypes: string[]; handlers: string[]; reasons: string[] };
  items: DeadLetterItem[];
  nextCursor: string | null;
  /** The query string of the next page. */
  nextHref: string | null;
}

const FIELDS: [string, string][] = [
  ["any", "anything"], ["eventId", "event id"], ["aggregateId", "aggregate id"], ["tenantId", "tenant"], ["error", "error text"], ["payload", "payload text"],
];

export function DeadLettersPage({ csrf, open, view }: { csrf: string | null; open: boolean; view: DeadLettersView }) {
  const { search, facets } = view;
  const field = search.field?.startsWith("payload.") ? "payloadField" : (search.field ?? "any");
  return (
    <Layout title="Dead letters" section="dead-letters" csrf={csrf} open={open}>
      <h1>Dead letters</h1>
      <form method="get" action="/ui/dead-letters" class="filters" data-testid="dlq-filters">
        <Select name="eventType" label="event type" value={search.eventType} options={facets.eventTypes} />
        <Select name="handler" label="handler" value={search.handler} options={facets.handlers} />
        <Select name="reason" label="reason" value={search.reason} options={facets.reasons} />
        <label>status
          <select name="status">
            {(["open", "retried", "discarded", "resolved", "any"] as const).map((s) => <option value={s} selected={(search.status ?? "open") === s}>{s}</option>)}
          </select>
        </label>
        <label>search in
          <select name="field" data-testid="search-field">
            {FIELDS.map(([value, label]) => <option value={value} selected={field === value}>{label}</option>)}
            <option value="payloadField" selected={field === "payloadField"}>payload field…</option>
          </select>
        </label>
        <label>payload field <input name="path" value={view.path} placeholder="customerEmail or items.0.sku" data-testid="search-path" /></label>
        <label class="grow">for <input name="q" value={search.q ?? ""} placeholder="text, id or value" data-testid="search-q" /></label>
        <button type="submit" data-testid="search">Search</button>
      </form>

      <form id="bulk" method="post" action="/ui/dead-letters/bulk" hx-post="/ui/dead-letters/bulk" hx-target="#bulk-panel" hx-swap="innerHTML" class="bulk">
        <Csrf token={csrf} />
        <HiddenSearch search={search} />
        <span>Selected:</span>
        <button name="op" value="retry-selected" data-testid="retry-selected">Retry</button>
        <button name="op" value="delete-selected">Delete</button>
        <span>All open matching this search:</span>
        <button name="op" value="retry-matching" data-testid="retry-matching">Retry all</button>
        <button name="op" value="delete-matching" data-testid="delete-matching">Delete all</button>
      </form>
      <div id="bulk-panel" data-testid="bulk-panel"></div>

      <table class="grid" data-testid="dlq-table">
        <thead>
          <tr><th><input type="checkbox" class="select-all" aria-label="select all" /></th><th>failed</th><th>event type</th><th>handler</th><th>reason</th><th>error</th><th>attempts</th><th>status</th><th></th></tr>
        </thead>
        <tbody>
          {view.items.length === 0 && <tr><td colspan={9} class="muted">Nothing matches.</td></tr>}
          {view.items.map((d) => <DeadLetterRow d={d} csrf={csrf} />)}
        </tbody>
      </table>
      {view.nextHref && <p><a href={view.nextHref} data-testid="next-page">Next page →</a></p>}
    </Layout>
  );
}

export function DeadLetterRow({ d, csrf }: { d: DeadLetterItem; csrf: string | null }) {
  return (
    <tr data-testid="dead-letter" data-id={d.id}>
      <td>{d.status === "open" && <input type="checkbox" name="ids" value={d.id} form="bulk" aria-label="select" />}</td>
      <td><a href={`/ui/dead-letters/${d.id}`}>{when(d.failedAt)}</a></td>
      <td>{d.eventType}</td>
      <td>{d.handler}</td>
      <td>{d.reason}</td>
      <td class="error" title={d.error}>{d.error.length > 120 ? `${d.error.slice(0, 120)}…` : d.error}</td>
      <td class="num">{d.attempts}</td>
      <td><span class={`badge ${d.status}`} data-testid="status">{d.status}</span></td>
      <td class="actions">{d.status === "open" && <RowActions id={d.id} csrf={csrf} />}</td>
    </tr>
  );
}

/** Retry and delete one; with htmx the row is replaced by its new state. */
export function RowActions({ id, csrf }: { id: string; csrf: string | null }) {
  return (
    <>
      {(["retry", "delete"] as const).map((op) => (
        <form method="post" action={`/ui/dead-letters/${id}/${op}`} hx-post={`/ui/dead-letters/${id}/${op}`} hx-target="closest tr" hx-swap="outerHTML"
          hx-confirm={op === "delete" ? "Delete this dead letter? Its event will never run for this handler." : undefined}>
          <Csrf token={csrf} />
          <button type="submit" data-testid={op}>{op === "retry" ? "Retry" : "Delete"}</button>
        </form>
      ))}
    </>
  );
}

/** The dry run's answer, then the confirmed result. */
export function BulkPanel(props: { csrf: string | null; op: string; search: DeadLetterQuery; ids?: string[]; count: number; done?: boolean }) {
  const verb = props.op.startsWith("retry") ? "retried" : "deleted";
  if (props.done) return <p class="banner ok" data-testid="bulk-result">{props.count} dead letter{props.count === 1 ? "" : "s"} {verb}. <a href="">Reload</a></p>;
  if (props.count === 0) return <p class="banner" data-testid="bulk-count">Nothing to do: no open dead letter matches.</p>;
  return (
    <form method="post" action="/ui/dead-letters/bulk" hx-post="/ui/dead-letters/bulk" hx-target="#bulk-panel" hx-swap="innerHTML" class="banner warn">
      <Csrf token={props.csrf} />
      <HiddenSearch search={props.search} />
      {props.ids?.map((id) => <input type="hidden" name="ids" value={id} />)}
      <input type="hidden" name="op" value={props.op} />
      <input type="hidden" name="confirm" value="1" />
      <span data-testid="bulk-count">{props.count} open dead letter{props.count === 1 ? "" : "s"} will be {verb}.</span>{" "}
      <button type="submit" data-testid="bulk-confirm">Confirm</button>
    </form>
  );
}

function HiddenSearch({ search }: { search: DeadLetterQuery }) {
  const fields = { eventType: search.eventType, handler: search.handler, reason: search.reason, q: search.q, field: search.q === undefined ? undefined : search.field };
  return <>{Object.entries(fields).map(([name, value]) => value !== undefined && <input type="hidden" name={name} value={value} />)}</>;
}

function Select({ name, label, value, options }: { name: string; label: string; value: string | undefined; options: string[] }) {
  const all = value && !options.includes(value) ? [value, ...options] : options;
  return (
    <label>{label}
      <select name={name}>
        <option value="">all</option>
        {all.map((o) => <option value={o} selected={o === value}>{o}</option>)}
      </select>
    </label>
  );
}
