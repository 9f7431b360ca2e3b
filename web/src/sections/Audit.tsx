import { Fragment, useState, type FormEvent } from "react";
import { useInfiniteQuery } from "@tanstack/react-query";
import { api, type AuditEvent, type AuditQuery } from "../api/client";
import { keys, useProfiles } from "../queries";
import { Empty, LoadMore, QueryError, Section, Spinner, csvCell, downloadCsv, fmtTime, Plain, ProfileSelect } from "../ui";

export const auditTypes = [
  "auth.login",
  "connector.created",
  "connector.updated",
  "connector.deleted",
  "profile.created",
  "profile.updated",
  "profile.deleted",
  "profile.webhook_secret_rotated",
  "mapping.saved",
  "mapping.deleted",
  "run.requested",
  "run.finished",
  "timesheet.created",
  "timesheet.updated",
  "timesheet.deleted",
  "timesheet.adopted",
  "link.removed",
  "link.pending_cleared",
  "conflict.opened",
  "conflict.resolve_requested",
  "conflict.resolved",
];

/**
 * An event type ("profile.webhook_secret_rotated") may wrap only after a dot,
 * never inside a word.
 */
export function EventType({ type }: { type: string }) {
  const parts = type.split(".");
  return (
    <code className="event-type">
      {parts.map((p, i) => (
        <Fragment key={i}>
          {p}
          {i < parts.length - 1 && (
            <>
              .<wbr />
            </>
          )}
        </Fragment>
      ))}
    </code>
  );
}

interface Filters {
  profile_id: string;
  type: string;
  from: string; // yyyy-mm-dd, local
  to: string; // yyyy-mm-dd, local, inclusive
}

export function auditCsv(events: AuditEvent[]): string {
  const cols = ["time", "type", "actor", "profile_id", "run_id", "subject", "message", "before", "after"] as const;
  const lines = [cols.join(",")];
  for (const e of events) lines.push(cols.map((c) => csvCell(e[c])).join(","));
  return lines.join("\r\n") + "\r\n";
}

function toQuery(f: Filters): AuditQuery {
  const day = (s: string, plus = 0) => {
    const [y, m, d] = s.split("-").map(Number);
    return new Date(y, m - 1, d + plus).toISOString();
  };
  return {
    profile_id: f.profile_id || undefined,
    type: f.type || undefined,
    from: f.from ? day(f.from) : undefined,
    to: f.to ? day(f.to, 1) : undefined,
  };
}

export function Audit() {
  const profiles = useProfiles();
  const empty: Filters = { profile_id: "", type: "", from: "", to: "" };
  const [draft, setDraft] = useState<Filters>(empty);
  const [filters, setFilters] = useState<Filters>(empty);
  const [error, setError] = useState<string | null>(null);
  const q = useInfiniteQuery({
    queryKey: keys.auditView(filters),
    queryFn: ({ pageParam }) => api.listAudit({ ...toQuery(filters), limit: 50, cursor: pageParam || undefined }),
    initialPageParam: "",
    getNextPageParam: (last) => last.next_cursor || undefined,
  });
  const events = q.data?.pages.flatMap((p) => p.items) ?? [];
  const name = (id?: string) => (id ? (profiles.data?.find((p) => p.id === id)?.name ?? id) : "—");

  function apply(next: Filters) {
    if (next.from && next.to && next.to < next.from) {
      setError("“To” must be on or after “From”.");
      return;
    }
    setError(null);
    setFilters(next);
  }
  function submit(e: FormEvent) {
    e.preventDefault();
    apply(draft);
  }
  function change<K extends keyof Filters>(k: K, v: string, immediate = false) {
    const next = { ...draft, [k]: v };
    setDraft(next);
    if (immediate) apply(next);
  }
  function exportCsv() {
    downloadCsv(`timebridge-audit-${new Date().toISOString().slice(0, 10)}.csv`, auditCsv(events));
  }

  return (
    <Section id="audit" title="Audit log">
      <form className="toolbar" onSubmit={submit} aria-label="Audit filters">
        <div className="field">
          <label htmlFor="audit-profile">Profile</label>
          <ProfileSelect
            id="audit-profile"
            testId="audit-filter-profile"
            value={draft.profile_id}
            onChange={(v) => change("profile_id", v, true)}
            profiles={profiles.data}
            allLabel="All profiles"
          />
        </div>
        <div className="field">
          <label htmlFor="audit-type">Type</label>
          <select id="audit-type" data-testid="audit-filter-type" value={draft.type} onChange={(e) => change("type", e.target.value, true)}>
            <option value="">All types</option>
            {auditTypes.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="audit-from">From</label>
          <input id="audit-from" type="date" value={draft.from} onChange={(e) => change("from", e.target.value, true)} />
        </div>
        <div className="field">
          <label htmlFor="audit-to">To</label>
          <input id="audit-to" type="date" value={draft.to} onChange={(e) => change("to", e.target.value, true)} aria-describedby={error ? "audit-range-error" : undefined} />
        </div>
        <div className="actions">
          <button
            type="button"
            onClick={() => {
              setDraft(empty);
              apply(empty);
            }}
          >
            Clear
          </button>
          <button type="button" data-testid="audit-export-csv" onClick={exportCsv} disabled={events.length === 0}>
            Export CSV ({events.length})
          </button>
        </div>
      </form>
      {error && (
        <p id="audit-range-error" className="field-error" role="alert">
          {error}
        </p>
      )}
      {q.isPending && <Spinner />}
      {q.isError && <QueryError error={q.error} />}
      {q.data && events.length === 0 && <Empty>No audit events match these filters. Widen the date range or clear the filters.</Empty>}
      {events.length > 0 && (
        <div className="table-wrap" role="region" aria-label="Audit events table" tabIndex={0}>
          <table data-testid="audit-table">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Type</th>
                <th scope="col">Actor</th>
                <th scope="col">Profile</th>
                <th scope="col">Subject</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => (
                <tr key={e.id} data-testid="audit-row" data-type={e.type}>
                  <td className="nowrap">{fmtTime(e.time)}</td>
                  <td data-testid="audit-type">
                    <EventType type={e.type} />
                  </td>
                  <td>{e.actor}</td>
                  <td className="wrap-text">{name(e.profile_id)}</td>
                  <td className="wrap-text"><Plain text={e.subject} /></td>
                  <td className="wrap-text">{e.message ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <LoadMore q={q} />
    </Section>
  );
}
