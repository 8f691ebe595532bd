import type { HandlerState, LastRecovery, Machine, OutboxState, StreamOverview } from "../reads/index.ts";
import { count, Csrf, duration, Layout, when } from "./layout.tsx";

export interface OverviewData {
  streams: StreamOverview[];
  machines: Machine[];
  recovery: LastRecovery;
  outbox: OutboxState;
  /** The machine that served this page. */
  self: { consumer: string; version: string };
}

export function OverviewPage({ csrf, open, data }: { csrf: string | null; open: boolean; data: OverviewData }) {
  return (
    <Layout title="Overview" section="overview" csrf={csrf} open={open}>
      <LivePanel csrf={csrf} data={data} />
    </Layout>
  );
}

/** The part of the overview that refreshes itself every 2 s (htmx swaps it whole). */
export function LivePanel({ csrf, data }: { csrf: string | null; data: OverviewData }) {
  const { streams, machines, recovery, outbox } = data;
  const dead = streams.reduce((n, s) => n + s.handlers.reduce((m, h) => m + h.deadLettered, 0), 0);
  return (
    <div id="live" hx-get="/ui/live" hx-trigger="every 2s" hx-swap="outerHTML">
      <section class="cards">
        <Card label="Outbox backlog" value={count(outbox.backlog)} testid="outbox-backlog"
          note={outbox.oldest ? `oldest ${outbox.oldest.eventType}, ${duration(outbox.oldestUnpublishedAgeMs)} old` : "nothing waiting"} />
        <Card label="Open dead letters" value={count(dead)} testid="dead-total" href="/ui/dead-letters" />
        <Card label="Machines consuming" value={count(machines.length)} testid="machines" note={`this page from ${data.self.consumer}`} />
        <Card label="Last recovery from Redis data loss" value={recovery.sentinel ? when(recovery.recoveredAt) : "due now"}
          testid="recovery" note={recovery.sentinel ? (recovery.by ? `by ${recovery.by}` : "") : "the sentinel is missing: Redis lost data, a machine is recovering"} />
      </section>
      <section>
        <h2>Last hour, per handler</h2>
        <p class="hint">Processed per minute (bars, left axis) and commit-to-done latency p50 / p99 (lines, right axis), across the fleet.</p>
        {/* Kept as it is when the panel refreshes (hx-preserve): the charts refresh themselves. */}
        <div id="charts" class="charts" data-src="/ui/activity.json" hx-preserve="true">
          <p class="muted">Loading charts…</p>
        </div>
      </section>
      <section>
        <h2>Event types and handlers</h2>
        {streams.length === 0 && <p class="muted">No streams yet: nothing has been published under this prefix.</p>}
        {streams.map((s) => <StreamTable stream={s} csrf={csrf} />)}
      </section>
      <section>
        <h2>Machines</h2>
        <table class="grid" data-testid="machines-table">
          <thead><tr><th>consumer name</th><th>host</th><th>pid</th><th>lease</th><th>in flight</th></tr></thead>
          <tbody>
            {machines.map((m) => (
              <tr>
                <td>{m.name}</td><td>{m.host ?? "–"}</td><td>{m.pid ?? "–"}</td><td>{duration(m.leaseMs)}</td>
                <td class="num">{count(inFlightOf(streams, m.name))}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}

function Card({ label, value, note, testid, href }: { label: string; value: string; note?: string; testid: string; href?: string }) {
  const body = <><span class="label">{label}</span><strong data-testid={testid}>{value}</strong>{note && <span class="note">{note}</span>}</>;
  return href ? <a class="card" href={href}>{body}</a> : <div class="card">{body}</div>;
}

function StreamTable({ stream, csrf }: { stream: StreamOverview; csrf: string | null }) {
  return (
    <div class="stream" data-event-type={stream.eventType}>
      <h3>{stream.eventType} <span class="muted">{stream.length === null ? "no stream" : `${count(stream.length)} ${stream.length === 1 ? "entry" : "entries"}`}</span></h3>
      <table class="grid handlers">
        <thead>
          <tr><th>handler</th><th>state</th><th>waiting</th><th>in flight</th><th>retrying</th><th>dead-lettered</th><th>lag</th><th>consumers (last seen, in flight)</th><th></th></tr>
        </thead>
        <tbody>
          {stream.handlers.map((h) => <HandlerRow h={h} csrf={csrf} />)}
        </tbody>
      </table>
    </div>
  );
}

function HandlerRow({ h, csrf }: { h: HandlerState; csrf: string | null }) {
  const dlq = `/ui/dead-letters?eventType=${encodeURIComponent(h.eventType)}&handler=${encodeURIComponent(h.handler)}`;
  const action = `/ui/handlers/${encodeURIComponent(h.handler)}/${h.paused ? "resume" : "pause"}`;
  return (
    <tr data-handler={h.handler} data-testid={`handler-${h.eventType}-${h.handler}`}>
      <td><strong>{h.handler}</strong></td>
      <td data-testid="state">{h.paused ? <span class="badge paused" title={`since ${when(h.paused.since)} by ${h.paused.by}`}>paused</span> : <span class="badge ok">running</span>}</td>
      <td class="num" data-testid="waiting">{count(h.waiting)}</td>
      <td class="num" data-testid="in-flight">{count(h.inFlight)}</td>
      <td class="num" data-testid="retrying">{count(h.retrying)}</td>
      <td class="num" data-testid="dead-lettered">{h.deadLettered > 0 ? <a href={dlq}>{count(h.deadLettered)}</a> : "0"}</td>
      <td class="num">{duration(h.lagMs)}</td>
      <td>
        {h.consumers.length === 0 ? <span class="muted">none</span> : h.consumers.map((c) => (
          <span class={`consumer ${c.live ? "live" : "gone"}`} title={c.live ? "running" : "its process is gone"}>
            {c.name} ({when(c.lastSeenAt).slice(11)}, {c.inFlight})
          </span>
        ))}
      </td>
      <td>
        {h.handler !== "relay" && (
          <form method="post" action={action} hx-post={action} hx-target="#live" hx-swap="outerHTML">
            <Csrf token={csrf} />
            <button type="submit" data-testid={h.paused ? "resume" : "pause"}>{h.paused ? "Resume" : "Pause"}</button>
          </form>
        )}
      </td>
    </tr>
  );
}

function inFlightOf(streams: StreamOverview[], consumer: string): number {
  let n = 0;
  for (const s of streams) for (const h of s.handlers) for (const c of h.consumers) if (c.name === consumer) n += c.inFlight;
  return n;
}
