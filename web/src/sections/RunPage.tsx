// One run: who started it and how, its progress while it runs (polled every
// 2 s, only then), its counts, each entry's outcome (filtered, paged), and a
// retry of its failed entries once it has finished. A preview shows what its
// plan would change.
import { useEffect, useMemo, useRef, useState } from "react";
import { useInfiniteQuery, useQuery, useQueryClient } from "@tanstack/react-query";
import { ApiError, api, type Counts, type EntryOutcome, type Outcome, type Progress, type Run } from "../api/client";
import { keys, useConnectors, useProfiles } from "../queries";
import { planCsv } from "./Preview";
import {
  Empty,
  LoadMore,
  QueryError,
  Section,
  Spinner,
  StatusBadge,
  downloadCsv,
  fmtDuration,
  fmtTime,
  useApiMutation,
  Plain,
} from "../ui";
import { clock, hours1, minutes, navigate, zammadTicketUrl } from "./pageUtil";
import "./pages.css";

export const POLL_MS = 2000;
export const ENTRIES_PAGE = 100;

export const isActive = (r?: Pick<Run, "status">) => !!r && (r.status === "queued" || r.status === "running");

const phaseText: Record<Progress["phase"], string> = {
  reading: "Reading Zammad",
  planning: "Planning",
  writing: "Writing to Kimai",
  finishing: "Finishing",
};

type Filter = "all" | Outcome;

const outcomeLabel: Record<Outcome, string> = {
  failed: "Failed",
  conflict: "Conflicts",
  created: "Created",
  updated: "Updated",
  deleted: "Deleted",
  skipped: "Skipped",
  unchanged: "Unchanged",
};
/** The filter buttons, problems first. */
const filterOrder = ["failed", "conflict", "created", "updated", "deleted", "skipped", "unchanged"] as const satisfies readonly Outcome[];
// Every outcome of the contract has its button: the compiler says which one is missing.
const everyOutcome: [Exclude<Outcome, (typeof filterOrder)[number]>] extends [never] ? true : never = true;
void everyOutcome;

/** How many entries of a run had an outcome, from its counts. */
export function countOf(c: Counts, o: Outcome): number {
  switch (o) {
    case "failed":
      return c.errors;
    case "conflict":
      return c.conflicts;
    default:
      return c[o];
  }
}

/** The filter a finished run opens with: its failures, else its conflicts, else everything. */
export function initialFilter(r: Run): Filter {
  if (r.counts.errors > 0) return "failed";
  if (r.counts.conflicts > 0) return "conflict";
  return "all";
}

/** Ticks every second while on is true; returns the current time. */
function useNow(on: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!on) return;
    setNow(Date.now());
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [on]);
  return now;
}

export function RunPage({ runId }: { runId: string }) {
  // A new run (e.g. after "Retry failed entries") starts afresh: its own
  // filter, its own watch of when it ends.
  return <RunPageOf key={runId} runId={runId} />;
}

function RunPageOf({ runId }: { runId: string }) {
  const qc = useQueryClient();
  const q = useQuery({
    queryKey: keys.run(runId),
    queryFn: () => api.getRun(runId),
    // Poll while the run is queued or running, and only then.
    refetchInterval: (query) => (isActive(query.state.data) ? POLL_MS : false),
  });
  const run = q.data;
  const active = isActive(run);
  // When a watched run ends, what it changed is stale elsewhere.
  const wasActive = useRef(false);
  useEffect(() => {
    if (!run) return;
    if (wasActive.current && !active) {
      // Not this run itself: its final state has just arrived.
      const self = keys.run(runId);
      void qc.invalidateQueries({ queryKey: keys.runs, predicate: (x) => x.queryKey.join("\u0000") !== self.join("\u0000") });
      for (const k of [keys.conflicts, keys.audit, keys.summary, ["report"]]) void qc.invalidateQueries({ queryKey: k });
    }
    wasActive.current = active;
  }, [active, run, runId, qc]);

  return (
    <Section id="run" title={`Run ${runId}`}>
      <p className="small">
        <a href="/runs">← All runs</a>
      </p>
      {q.isPending && <Spinner label="Loading the run…" />}
      {q.isError && (
        <QueryError
          error={q.error instanceof ApiError && q.error.status === 404 ? new Error(`There is no run ${runId}. It may have been removed; see all runs.`) : q.error}
        />
      )}
      {run && <RunView run={run} />}
    </Section>
  );
}

function RunView({ run }: { run: Run }) {
  const profiles = useProfiles();
  const profile = profiles.data?.find((p) => p.id === run.profile_id);
  const active = isActive(run);
  const now = useNow(active);
  const since = run.started_at ?? run.queued_at;
  const elapsed = active ? now - Date.parse(since) : run.duration_ms;
  const retry = useApiMutation({
    mutationFn: () => api.retryRun(run.id),
    success: (r) =>
      r.status === "failed"
        ? { kind: "error", message: `The retry run ${r.id} could not be queued; its page has the error.` }
        : `Retry of ${run.counts.errors} failed entr${run.counts.errors === 1 ? "y" : "ies"} queued as run ${r.id}.`,
    invalidate: () => [keys.runs],
    onSuccess: (r) => navigate(`/runs/${encodeURIComponent(r.id)}`),
  });
  const canRetry = !run.dry_run && !active && run.counts.errors > 0;

  return (
    <div className="run-page" data-testid="run-page" data-status={run.status}>
      <div className="run-head">
        <p className="run-kind">
          <StatusBadge status={run.status} /> <strong>{run.dry_run ? `Preview (${run.mode})` : `${run.mode[0].toUpperCase()}${run.mode.slice(1)} run`}</strong>
          {run.ticket_id ? ` of ticket id ${run.ticket_id}` : ""}
        </p>
        <dl className="kv run-meta">
          <dt>Profile</dt>
          <dd>{profile ? <Plain text={profile.name} /> : run.profile_id}</dd>
          <dt>Mode</dt>
          <dd>{run.dry_run ? `${run.mode} (preview, nothing written)` : run.mode}</dd>
          <dt>Trigger</dt>
          <dd>{run.trigger}</dd>
          <dt>Status</dt>
          <dd data-testid="run-status">{run.status}</dd>
          <dt>Requester</dt>
          <dd>{run.requester ? <Plain text={run.requester} /> : "—"}</dd>
          <dt>Queued</dt>
          <dd>{fmtTime(run.queued_at)}</dd>
          {run.started_at && (
            <>
              <dt>Started</dt>
              <dd>{fmtTime(run.started_at)}</dd>
            </>
          )}
          {run.finished_at && (
            <>
              <dt>Finished</dt>
              <dd>{fmtTime(run.finished_at)}</dd>
            </>
          )}
          <dt>{active ? "Elapsed" : "Duration"}</dt>
          <dd data-testid="run-elapsed">{active ? clock(elapsed) : run.duration_ms ? fmtDuration(run.duration_ms) : "—"}</dd>
          {run.from && (
            <>
              <dt>Entries from</dt>
              <dd>
                {fmtTime(run.from)} to {fmtTime(run.to)}
              </dd>
            </>
          )}
          {(run.tickets?.length ?? 0) > 1 && (
            <>
              <dt>Tickets</dt>
              <dd>{run.tickets?.join(", ")}</dd>
            </>
          )}
        </dl>
        {run.retry_of && (
          <p data-testid="retry-of">
            Retries the failed entries of <a href={`/runs/${encodeURIComponent(run.retry_of)}`}>run {run.retry_of}</a>.
          </p>
        )}
        {run.merged_into && (
          <p>
            This queued ticket run was carried out by <a href={`/runs/${encodeURIComponent(run.merged_into)}`}>run {run.merged_into}</a>; its counts
            are there.
          </p>
        )}
      </div>

      {active && <RunProgress run={run} />}
      <p className="sr-only" role="status">
        {active ? "" : `Run ${run.status}.`}
      </p>

      <h3>Counts</h3>
      <CountsView counts={run.counts} />
      {run.concurrency && <ConcurrencyView trace={run.concurrency} />}
      {run.error_detail && (
        <p className="error-box" role="alert">
          <strong>{run.error_detail.class}</strong>: {run.error_detail.message}
          {run.error_detail.count ? ` (${run.error_detail.count}×)` : ""}
        </p>
      )}

      {canRetry && (
        <div className="actions">
          <button type="button" className="primary" data-testid="retry-failed" disabled={retry.isPending} onClick={() => retry.mutate(undefined)}>
            {retry.isPending ? "Queuing the retry…" : `Retry failed entries (${run.counts.errors})`}
          </button>
          <span className="muted small">Runs the tickets of the failed entries again. Conflicts are resolved on the Conflicts page.</span>
        </div>
      )}

      {run.dry_run ? <PreviewSummary run={run} /> : <Entries run={run} />}
    </div>
  );
}

/** The progress bar of a queued or running run, with its phase. */
export function RunProgress({ run }: { run: Run }) {
  const p = run.progress;
  const planned = !!p && p.total > 0;
  const label = run.status === "queued" ? "Queued: waiting for the reconcile function" : p ? phaseText[p.phase] : "Starting";
  const pct = planned ? Math.min(100, Math.round((p.done / p.total) * 100)) : 0;
  return (
    <div className="run-progress" data-testid="run-progress-block">
      <div id="run-progress-label" className="run-progress-label">
        {label}
        {planned ? `: ${p.done} of ${p.total} planned changes` : p && p.phase !== "reading" ? "" : "…"}
      </div>
      <div
        className={`progress-track${planned ? "" : " indeterminate"}`}
        role="progressbar"
        aria-labelledby="run-progress-label"
        aria-valuemin={0}
        aria-valuemax={planned ? p.total : undefined}
        aria-valuenow={planned ? p.done : undefined}
        aria-valuetext={planned ? `${p.done} of ${p.total} (${pct}%)` : label}
        data-testid="run-progress"
        data-done={p?.done ?? 0}
        data-total={p?.total ?? 0}
      >
        <div className="progress-fill" style={{ width: planned ? `${pct}%` : undefined }} />
      </div>
      {!!p?.invocations && (
        <div className="muted small" data-testid="run-continued">
          A long backfill runs in parts: continued {p.invocations} {p.invocations === 1 ? "time" : "times"} in a new
          invocation{p.after_ticket ? `, done up to ticket ${p.after_ticket}` : ""}.
        </div>
      )}
      {p?.updated_at && <div className="muted small">Last progress {fmtTime(p.updated_at)}</div>}
    </div>
  );
}

type ConcurrencyTrace = NonNullable<Run["concurrency"]>;

/**
 * How many Kimai writes the run allowed at once: a sentence, and for an
 * adaptive pace the limit's course as a step chart (the points hold the
 * limit from each point in time on).
 */
export function ConcurrencyView({ trace }: { trace: ConcurrencyTrace }) {
  const pace =
    trace.pace === "fixed"
      ? `Fixed pace: ${trace.bound} Kimai writes at once.`
      : `Adaptive pace, up to ${trace.bound} Kimai writes at once: between ${trace.min} and ${trace.max}, ${trace.final} at the end.`;
  const drops =
    trace.drops > 0
      ? ` Kimai refused or dropped ${trace.drops} of ${trace.attempts + trace.drops} requests for load (429, 502–504, timeouts); the pace ${trace.pace === "fixed" ? "held" : "slowed down"}.`
      : "";
  return (
    <div className="run-concurrency" data-testid="run-concurrency">
      <p className="small muted">
        {pace}
        {drops}
      </p>
      {trace.pace === "adaptive" && trace.points.length > 1 && <LimitChart trace={trace} />}
    </div>
  );
}

function LimitChart({ trace }: { trace: ConcurrencyTrace }) {
  const w = 240;
  const h = 40;
  const pts = trace.points;
  const end = Math.max(1, pts[pts.length - 1].at_ms);
  const top = Math.max(1, trace.bound);
  const x = (ms: number) => (ms / end) * w;
  const y = (limit: number) => h - (limit / top) * (h - 2) - 1;
  let d = `M0 ${y(pts[0].limit).toFixed(1)}`;
  for (let i = 1; i < pts.length; i++) {
    d += ` H${x(pts[i].at_ms).toFixed(1)} V${y(pts[i].limit).toFixed(1)}`;
  }
  d += ` H${w}`;
  return (
    <svg
      className="limit-chart"
      width={w}
      height={h}
      viewBox={`0 0 ${w} ${h}`}
      role="img"
      aria-label={`Kimai writes at once over the run: ${pts.map((p) => p.limit).join(", ")}`}
      data-testid="limit-chart"
    >
      <path d={d} fill="none" stroke="currentColor" strokeWidth={1.5} />
    </svg>
  );
}

function CountsView({ counts }: { counts: Counts }) {
  const items: [string, number, string?][] = [
    ["Seen", counts.seen],
    ["Created", counts.created],
    ["Updated", counts.updated],
    ["Deleted", counts.deleted],
    ["Unchanged", counts.unchanged],
    ["Skipped", counts.skipped],
    ["Conflicts", counts.conflicts, counts.conflicts > 0 ? "warn" : undefined],
    ["Errors", counts.errors, counts.errors > 0 ? "bad" : undefined],
  ];
  const byClass = Object.entries(counts.errors_by_class ?? {});
  return (
    <>
      <dl className="stats run-counts" data-testid="run-counts">
        {items.map(([k, v, tone]) => (
          <div key={k} className={tone ? `count-${tone}` : undefined}>
            <dt>{k}</dt>
            <dd data-count={k.toLowerCase()}>{v}</dd>
          </div>
        ))}
      </dl>
      {byClass.length > 0 && (
        <p className="small muted">
          Errors by class: {byClass.map(([k, v]) => `${k} ${v}`).join(", ")}
        </p>
      )}
    </>
  );
}

/** The outcome of each entry the run touched, filtered by outcome and paged. */
function Entries({ run }: { run: Run }) {
  const active = isActive(run);
  const [filter, setFilter] = useState<Filter>(() => (active ? "all" : initialFilter(run)));
  // A run that ends while watched opens on its failures or conflicts.
  const ended = useRef(!active);
  useEffect(() => {
    if (!active && !ended.current) {
      ended.current = true;
      setFilter(initialFilter(run));
    }
  }, [active, run]);
  const connectors = useConnectors();
  const profiles = useProfiles();
  const zammadBase = useMemo(() => {
    const p = profiles.data?.find((x) => x.id === run.profile_id);
    return connectors.data?.find((c) => c.id === p?.zammad_connector_id)?.base_url;
  }, [connectors.data, profiles.data, run.profile_id]);
  const q = useInfiniteQuery({
    queryKey: ["runs", "entries", run.id, filter],
    queryFn: ({ pageParam }) =>
      api.runEntries(run.id, { ...(filter === "all" ? {} : { outcome: filter }), limit: ENTRIES_PAGE, ...(pageParam ? { cursor: pageParam } : {}) }),
    initialPageParam: "",
    getNextPageParam: (last) => last.next_cursor || undefined,
    // A run stores its entries' outcomes when it ends (README: Progress and outcomes).
    enabled: !active,
  });
  const rows = q.data?.pages.flatMap((p) => p.items) ?? [];
  const total = q.data?.pages[0]?.total;
  const withCount = filterOrder.filter((o) => countOf(run.counts, o) > 0 || o === filter);

  if (active)
    return (
      <section className="run-entries" aria-labelledby="run-entries-title">
        <h3 id="run-entries-title">Entries</h3>
        <p className="muted" data-testid="entries-later">
          Each entry's outcome (created, updated, conflict, failed …) is listed here when the run has finished; the counts above grow as it works.
        </p>
      </section>
    );

  return (
    <section className="run-entries" aria-labelledby="run-entries-title">
      <h3 id="run-entries-title">Entries</h3>
      <div className="toolbar" role="group" aria-label="Show entries">
        <button type="button" aria-pressed={filter === "all"} onClick={() => setFilter("all")}>
          All changes
        </button>
        {withCount.map((o) => (
          <button key={o} type="button" aria-pressed={filter === o} data-outcome={o} onClick={() => setFilter(o)}>
            {outcomeLabel[o]} ({countOf(run.counts, o)})
          </button>
        ))}
      </div>
      {q.isPending && <Spinner label="Loading entries…" />}
      {q.isError && <QueryError error={q.error} />}
      {q.data && rows.length === 0 && (
        <Empty>
          {filter === "all"
            ? "This run changed no entry: Kimai already matched Zammad (unchanged entries are under “Unchanged”)."
            : `No ${filter} entries in this run.`}
        </Empty>
      )}
      {rows.length > 0 && (
        <>
          <p className="small muted" aria-live="polite">
            Showing {rows.length} of {total ?? rows.length} {filter === "all" ? "changed entries" : `${filter} entries`}.
          </p>
          <div className="table-wrap" role="region" aria-label="Entry outcomes" tabIndex={0}>
            <table data-testid="entries-table" className="entries-table">
              <thead>
                <tr>
                  <th scope="col">Ticket</th>
                  <th scope="col">Entry</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">Class</th>
                  <th scope="col">Reason</th>
                  <th scope="col">Timesheet</th>
                  <th scope="col">Customer / project / activity</th>
                  <th scope="col">Time</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((e, i) => (
                  <EntryRow key={`${e.entry_id}-${i}`} e={e} zammadBase={zammadBase} />
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
      <LoadMore q={q} />
    </section>
  );
}

function EntryRow({ e, zammadBase }: { e: EntryOutcome; zammadBase?: string }) {
  const ticket = e.ticket_number ? `#${e.ticket_number}` : `ticket id ${e.ticket_id}`;
  return (
    <tr data-testid="entry-row" data-outcome={e.outcome} data-entry={e.entry_id}>
      <td className="nowrap">
        {zammadBase ? (
          <a href={zammadTicketUrl(zammadBase, e.ticket_id)} target="_blank" rel="noreferrer noopener">
            {ticket}
          </a>
        ) : (
          ticket
        )}
      </td>
      <td className="nowrap">{e.entry_id}</td>
      <td className="nowrap">
        <StatusBadge status={e.outcome} />
      </td>
      <td className="nowrap">{e.class ? e.class.replace(/_/g, " ") : "—"}</td>
      <td className="wrap-text reason">{e.reason ? <Plain text={e.reason} /> : "—"}</td>
      <td className="nowrap">{e.timesheet_id ? `#${e.timesheet_id}` : "—"}</td>
      <td className="wrap-text">
        {e.customer || e.project || e.activity ? (
          <>
            <Plain text={e.customer || "—"} /> / <Plain text={e.project || "—"} /> / <Plain text={e.activity || "—"} />
          </>
        ) : (
          "—"
        )}
      </td>
      <td className="nowrap" title={e.seconds !== undefined ? minutes(e.seconds) : undefined}>
        {e.seconds !== undefined ? hours1(e.seconds) : "—"}
      </td>
    </tr>
  );
}

/** A preview's page: what its plan would change, nothing written. */
function PreviewSummary({ run }: { run: Run }) {
  const plan = run.plan ?? [];
  const n = (a: string) => plan.filter((p) => p.action === a).length;
  if (isActive(run)) return <p className="muted">The preview is being built; nothing is written.</p>;
  return (
    <section className="run-preview" aria-labelledby="run-preview-title" data-testid="run-preview">
      <h3 id="run-preview-title">Preview</h3>
      {run.status === "failed" ? (
        <p className="muted">The preview failed (see the error above); it planned nothing.</p>
      ) : (
        <>
          <p>
            This was a preview: <strong>nothing was written to Kimai</strong>. Its plan: <strong>{n("create")}</strong> creates,{" "}
            <strong>{n("update")}</strong> updates, <strong>{n("delete")}</strong> deletes, <strong>{n("conflict")}</strong> conflicts, {n("skip")} skipped,{" "}
            {n("unchanged")} unchanged.
          </p>
          <p className="small muted">
            To write these changes, press Preview and then Apply on the <a href="/">Dashboard</a>: a new preview shows what changed
            since.
          </p>
          {plan.length > 0 && (
            <button type="button" data-testid="preview-csv" onClick={() => downloadCsv(`timebridge-preview-${run.id}.csv`, planCsv(plan))}>
              Download the plan as CSV ({plan.length} rows)
            </button>
          )}
        </>
      )}
    </section>
  );
}
