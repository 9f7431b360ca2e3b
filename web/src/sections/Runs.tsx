import { Fragment, useState } from "react";
import { useInfiniteQuery } from "@tanstack/react-query";
import { api } from "../api/client";
import { keys, useProfiles } from "../queries";
import {
  Empty,
  LoadMore,
  QueryError,
  Section,
  Spinner,
  StatusBadge,
  fmtDuration,
  fmtTime,
  Plain,
} from "../ui";

export function Runs() {
  const profiles = useProfiles();
  const [profileId, setProfileId] = useState("");
  const [open, setOpen] = useState<string | null>(null);
  const q = useInfiniteQuery({
    queryKey: [...keys.runs, "history", profileId],
    queryFn: ({ pageParam }) => api.listRuns({ profile_id: profileId || undefined, limit: 25, cursor: pageParam || undefined }),
    initialPageParam: "",
    getNextPageParam: (last) => last.next_cursor || undefined,
    refetchInterval: 15_000,
  });
  const name = (id: string) => profiles.data?.find((p) => p.id === id)?.name ?? id;
  const runs = q.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <Section id="runs" title="Runs">
      <div className="toolbar">
        <label htmlFor="runs-profile">Profile</label>
        <select id="runs-profile" value={profileId} onChange={(e) => setProfileId(e.target.value)}>
          <option value="">All profiles</option>
          {profiles.data?.map((p) => (
            <option key={p.id} value={p.id}>
              <Plain text={p.name} />
            </option>
          ))}
        </select>
      </div>
      {q.isPending && <Spinner />}
      {q.isError && <QueryError error={q.error} />}
      {q.data && runs.length === 0 && <Empty>No runs yet. Start one from the Dashboard with “Sync now”, or wait for the schedule.</Empty>}
      {runs.length > 0 && (
        <div className="table-wrap" role="region" aria-label="Runs table" tabIndex={0}>
          <table data-testid="runs-table">
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
                      <td className="nowrap">{fmtTime(r.queued_at)}</td>
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
                        {r.merged_into && <div className="muted">carried out by run {r.merged_into}</div>}
                      </td>
                      <td className="nowrap">
                        <StatusBadge status={r.status} />
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
