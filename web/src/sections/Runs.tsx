import { Fragment, useState } from "react";
import { useInfiniteQuery } from "@tanstack/react-query";
import { api, type Run, type RunsQuery } from "../api/client";
import { keys, useProfiles } from "../queries";
import {
  Empty,
  LoadMore,
  QueryError,
  Section,
  Spinner,
  StatusBadge,
  downloadCsv,
  errorMessage,
  fmtDuration,
  fmtTime,
  toCsv,
  useToast,
  Plain,
  ProfileSelect,
} from "../ui";
import { addDays, dayStart, isDay, lastDays } from "./pageUtil";
import "./pages.css";

/** The runs list's filter: a profile ("" = all) and days queued (inclusive, the browser's calendar; "" = open). */
export interface RunsFilter {
  profileId: string;
  from: string;
  to: string;
}

/** The API query of a filter: days become the instants that bound them in
 * the browser's zone (from's first instant, the instant after to). */
export function runsQuery(f: RunsFilter): Omit<RunsQuery, "limit" | "cursor"> {
  return {
    ...(f.profileId ? { profile_id: f.profileId } : {}),
    ...(isDay(f.from) ? { from: dayStart(f.from) } : {}),
    ...(isDay(f.to) ? { to: dayStart(addDays(f.to, 1)) } : {}),
  };
}

/** The runs as CSV: one line per run, names and ids. */
export function runsCsv(runs: Run[], profileName: (id: string) => string): string {
  return toCsv([
    ["id", "queued_at", "started_at", "finished_at", "profile", "profile_id", "mode", "trigger", "dry_run", "status", "requester", "ticket_id",
      "seen", "created", "updated", "deleted", "unchanged", "skipped", "conflicts", "errors", "duration_ms", "retry_of", "error"],
    ...runs.map((r) => [
      r.id, r.queued_at, r.started_at ?? "", r.finished_at ?? "", profileName(r.profile_id), r.profile_id, r.mode, r.trigger, r.dry_run ? "true" : "false",
      r.status, r.requester ?? "", r.ticket_id ?? "", r.counts.seen, r.counts.created, r.counts.updated, r.counts.deleted, r.counts.unchanged,
      r.counts.skipped, r.counts.conflicts, r.counts.errors, r.duration_ms, r.retry_of ?? "", r.error_detail?.message ?? "",
    ]),
  ]);
}

const quick = [
  ["today", "Today", 1],
  ["7", "Last 7 days", 7],
  ["30", "Last 30 days", 30],
] as const;

export function Runs() {
  const profiles = useProfiles();
  const toast = useToast();
  const [filter, setFilter] = useState<RunsFilter>({ profileId: "", from: "", to: "" });
  const [open, setOpen] = useState<string | null>(null);
  const [exporting, setExporting] = useState(false);
  const query = runsQuery(filter);
  const rangeProblem = isDay(filter.from) && isDay(filter.to) && filter.from > filter.to ? "The first day must not be after the last day." : null;
  const q = useInfiniteQuery({
    queryKey: [...keys.runs, "history", query],
    queryFn: ({ pageParam }) => api.listRuns({ ...query, limit: 25, cursor: pageParam || undefined }),
    initialPageParam: "",
    getNextPageParam: (last) => last.next_cursor || undefined,
    refetchInterval: 15_000,
    enabled: !rangeProblem,
  });
  const name = (id: string) => profiles.data?.find((p) => p.id === id)?.name ?? id;
  const runs = q.data?.pages.flatMap((p) => p.items) ?? [];
  const set = (patch: Partial<RunsFilter>) => setFilter((f) => ({ ...f, ...patch }));
  const activeQuick = quick.find(([, , n]) => {
    const r = lastDays(n);
    return filter.from === r.from && filter.to === r.to;
  })?.[0];
  const filtered = !!(filter.profileId || filter.from || filter.to);

  async function exportCsv() {
    setExporting(true);
    try {
      const all = await api.listAllRuns(query);
      const span = [filter.from, filter.to].filter(Boolean).join("_to_");
      downloadCsv(`timebridge-runs${span ? "-" + span : ""}.csv`, runsCsv(all.items, name));
      toast.push(
        all.truncated ? "info" : "success",
        all.truncated ? `Downloaded the newest ${all.items.length} runs; narrow the dates for the rest.` : `Downloaded ${all.items.length} runs as CSV.`,
      );
    } catch (e) {
      toast.push("error", errorMessage(e));
    } finally {
      setExporting(false);
    }
  }

  return (
    <Section id="runs" title="Runs">
      <div className="toolbar runs-filter" role="group" aria-label="Filter runs">
        <div className="filter-field">
          <label htmlFor="runs-profile">Profile</label>
          <ProfileSelect
            id="runs-profile"
            value={filter.profileId}
            onChange={(v) => set({ profileId: v })}
            profiles={profiles.data}
            allLabel="All profiles"
          />
        </div>
        <div className="filter-field">
          <label htmlFor="runs-from">From</label>
          <input
            id="runs-from"
            type="date"
            value={filter.from}
            max={filter.to || undefined}
            aria-invalid={rangeProblem ? true : undefined}
            aria-describedby={rangeProblem ? "runs-range-problem" : undefined}
            onChange={(e) => set({ from: e.target.value })}
          />
        </div>
        <div className="filter-field">
          <label htmlFor="runs-to">To</label>
          <input
            id="runs-to"
            type="date"
            value={filter.to}
            min={filter.from || undefined}
            aria-invalid={rangeProblem ? true : undefined}
            aria-describedby={rangeProblem ? "runs-range-problem" : undefined}
            onChange={(e) => set({ to: e.target.value })}
          />
        </div>
        <div className="quick-range" role="group" aria-label="Quick dates">
          {quick.map(([id, label, n]) => (
            <button key={id} type="button" aria-pressed={activeQuick === id} onClick={() => set(lastDays(n))}>
              {label}
            </button>
          ))}
          {(filter.from || filter.to) && (
            <button type="button" onClick={() => set({ from: "", to: "" })}>
              Any date
            </button>
          )}
        </div>
        <button type="button" data-testid="runs-csv" disabled={exporting || !!rangeProblem || runs.length === 0} onClick={() => void exportCsv()}>
          {exporting ? "Preparing CSV…" : "Download CSV"}
        </button>
      </div>
      {rangeProblem && (
        <p id="runs-range-problem" className="field-error" role="alert">
          {rangeProblem}
        </p>
      )}
      {!rangeProblem && q.isPending && <Spinner />}
      {q.isError && <QueryError error={q.error} />}
      {q.data && runs.length === 0 && (
        <Empty>
          {filtered
            ? "No runs match these filters. Widen the dates or choose all profiles."
            : "No runs yet. Start one from the Dashboard with “Sync now”, or wait for the schedule."}
        </Empty>
      )}
      {runs.length > 0 && (
        <div className="table-wrap runs-wrap" role="region" aria-label="Runs table" tabIndex={0}>
          <table data-testid="runs-table" className="runs-table">
            <thead>
              <tr>
                <th scope="col">Queued</th>
                <th scope="col">Profile</th>
                <th scope="col">Run</th>
                <th scope="col">Status</th>
                <th scope="col" className="nowrap" title="seen / created / updated / deleted / unchanged / skipped">
                  Seen · new · upd · del
                </th>
                <th scope="col">Conflicts</th>
                <th scope="col">Errors</th>
                <th scope="col">Duration</th>
              </tr>
            </thead>
            <tbody>
              {runs.map((r) => {
                const hasDetail = !!r.error_detail || (r.item_errors?.length ?? 0) > 0;
                return (
                  <Fragment key={r.id}>
                    <tr data-testid="run-row" data-status={r.status}>
                      <td className="nowrap">
                        <a href={`/runs/${encodeURIComponent(r.id)}`} data-testid="run-link" aria-label={`Run of ${fmtTime(r.queued_at)} (${r.dry_run ? "preview " : ""}${r.mode}, ${r.status})`}>
                          {fmtTime(r.queued_at)}
                        </a>
                      </td>
                      <td className="wrap-text">{name(r.profile_id)}</td>
                      <td className="wrap-text">
                        {r.dry_run ? "preview " : ""}
                        {r.mode}
                        {r.ticket_id ? ` #${r.ticket_id}` : ""} · {r.trigger}
                        {r.requester ? ` by ${r.requester}` : ""}
                        {(r.tickets?.length ?? 0) > 1 && (
                          <div className="muted" title={`Tickets ${r.tickets?.join(", ")}`}>
                            with {(r.tickets?.length ?? 1) - 1} more queued ticket runs
                          </div>
                        )}
                        {r.merged_into && (
                          <div className="muted">
                            carried out by <a href={`/runs/${encodeURIComponent(r.merged_into)}`}>run {r.merged_into}</a>
                          </div>
                        )}
                        {r.retry_of && (
                          <div className="muted">
                            retry of <a href={`/runs/${encodeURIComponent(r.retry_of)}`}>run {r.retry_of}</a>
                          </div>
                        )}
                      </td>
                      <td className="nowrap">
                        <StatusBadge status={r.status} />
                        {r.progress && (r.status === "running" || r.status === "queued") && r.progress.total > 0 && (
                          <div className="muted small">
                            {r.progress.done} / {r.progress.total}
                          </div>
                        )}
                      </td>
                      <td className="nowrap">
                        {r.counts.seen} · {r.counts.created} · {r.counts.updated} · {r.counts.deleted}
                      </td>
                      <td>{r.counts.conflicts}</td>
                      <td className="nowrap">
                        {r.counts.errors}
                        {hasDetail && (
                          <>
                            {" "}
                            <button type="button" className="link" aria-expanded={open === r.id} onClick={() => setOpen(open === r.id ? null : r.id)}>
                              {open === r.id ? "Hide" : "Details"}
                            </button>
                          </>
                        )}
                      </td>
                      <td className="nowrap">{r.duration_ms ? fmtDuration(r.duration_ms) : "—"}</td>
                    </tr>
                    {open === r.id && (
                      <tr className="detail">
                        <td colSpan={8}>
                          {r.error_detail && (
                            <p className="error-box">
                              <strong>{r.error_detail.class}</strong>: {r.error_detail.message}
                              {r.error_detail.count ? ` (${r.error_detail.count}×)` : ""}
                              {r.error_detail.fields &&
                                Object.entries(r.error_detail.fields).map(([k, v]) => (
                                  <span key={k}>
                                    {" "}
                                    {k}: {v}
                                  </span>
                                ))}
                            </p>
                          )}
                          {r.item_errors && r.item_errors.length > 0 && (
                            <ul>
                              {r.item_errors.map((e, i) => (
                                <li key={i}>
                                  Entry {e.entry_id} — <strong>{e.class}</strong>: <Plain text={e.message} />
                                </li>
                              ))}
                            </ul>
                          )}
                        </td>
                      </tr>
                    )}
                  </Fragment>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <LoadMore q={q} />
    </Section>
  );
}
