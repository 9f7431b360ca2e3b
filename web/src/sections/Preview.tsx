// A dry run's result, summary first: what would change per Kimai customer,
// project and activity, what would be auto-created, which conflicts would
// open; then the rows, filtered and paged, downloadable as CSV. Apply and
// Discard stay in view (a sticky bar) however long the plan is.
import { useMemo, useState } from "react";
import type { PlannedChange, Run } from "../api/client";
import { isOneOf } from "../forms/rules";
import { Empty, StatusBadge, downloadCsv, fmtHours, fmtTime, toCsv } from "../ui";
import { TicketRef, TimesheetRef, ticketText, type ExternalBases } from "./links";

export const PAGE_ROWS = 50;

const kindLabel = { customer: "Customers", project: "Projects", activity: "Activities" } as const;

/** "+1.50 h" / "−0.25 h" for a signed change of time. */
export function signedHours(seconds: number): string {
  if (seconds === 0) return "±0 h";
  return `${seconds > 0 ? "+" : "−"}${fmtHours(Math.abs(seconds))}`;
}

/** What a row does to its timesheet, in words. */
export function changeText(p: PlannedChange): string {
  const what =
    p.before && p.after
      ? `${fmtHours(p.before.duration)} → ${fmtHours(p.after.duration)}`
      : p.after
        ? `${fmtHours(p.after.duration)} at ${fmtTime(p.after.begin)}`
        : p.before
          ? `remove ${fmtHours(p.before.duration)}`
          : "";
  return [what, p.conflict ?? "", p.reason ? `— ${p.reason}` : ""].filter(Boolean).join(" ");
}

export function ticketLabel(p: Pick<PlannedChange, "ticket_id" | "ticket_number">): string {
  return ticketText(p);
}

/** The plan as CSV: one line per row, every column the table shows and the ids behind it. */
export function planCsv(plan: PlannedChange[]): string {
  return toCsv([
    ["action", "ticket", "ticket_id", "entry_id", "timesheet_id", "customer", "project", "activity", "begin", "seconds_before", "seconds_after", "conflict", "reason"],
    ...plan.map((p) => [
      p.action,
      p.ticket_number ?? "",
      p.ticket_id,
      p.entry_id,
      p.timesheet_id ?? "",
      p.customer ?? "",
      p.project ?? "",
      p.activity ?? "",
      p.after?.begin ?? p.before?.begin ?? "",
      p.before?.duration ?? "",
      p.after?.duration ?? "",
      p.conflict ?? "",
      p.reason ?? "",
    ]),
  ]);
}

const filters = ["changes", "create", "update", "delete", "conflict", "skip", "unchanged", "all"] as const;
type Filter = (typeof filters)[number];

export function PreviewPanel({
  run,
  applying,
  onApply,
  onDiscard,
  bases,
}: {
  run: Run;
  applying: boolean;
  onApply: () => void;
  onDiscard: () => void;
  /** The profile's Zammad and Kimai base URLs: tickets and timesheets link there. */
  bases?: ExternalBases;
}) {
  const plan = useMemo(() => run.plan ?? [], [run.plan]);
  const [filter, setFilter] = useState<Filter>("changes");
  const [text, setText] = useState("");
  const [page, setPage] = useState(0);
  const count = (a: PlannedChange["action"]) => plan.filter((p) => p.action === a).length;
  const rows = useMemo(() => {
    const t = text.trim().toLowerCase();
    return plan.filter(
      (p) =>
        (filter === "all" || (filter === "changes" ? p.action !== "unchanged" : p.action === filter)) &&
        (!t || [ticketLabel(p), p.customer, p.project, p.activity, p.reason, String(p.entry_id)].some((v) => v?.toLowerCase().includes(t))),
    );
  }, [plan, filter, text]);
  const pages = Math.max(1, Math.ceil(rows.length / PAGE_ROWS));
  const shown = rows.slice(page * PAGE_ROWS, (page + 1) * PAGE_ROWS);
  const failed = run.status === "failed";
  const pv = run.preview;
  const writes = count("create") + count("update") + count("delete");

  return (
    <div className="preview-panel" data-testid="preview-panel">
      <div className="preview-bar" role="toolbar" aria-label="Preview actions">
        <span className="preview-bar-text">
          {failed ? "Preview failed" : writes === 0 ? "Nothing to write" : `${writes} timesheet${writes === 1 ? "" : "s"} would change`}
        </span>
        <button type="button" className="primary" data-testid="apply-preview" disabled={failed || applying} onClick={onApply}>
          Apply
        </button>
        <button type="button" data-testid="discard-preview" onClick={onDiscard}>
          Discard preview
        </button>
      </div>
      {failed ? (
        <p className="error-box" role="alert">
          Preview failed: {run.error_detail?.message ?? "see Runs for details."}
        </p>
      ) : (
        <>
          <p className="plan-summary" role="status">
            Plan: <strong>{count("create")}</strong> creates, <strong>{count("update")}</strong> updates, <strong>{count("delete")}</strong> deletes,{" "}
            <strong>{count("conflict")}</strong> conflicts, {count("skip")} skipped, {count("unchanged")} unchanged. Nothing has been written.
          </p>
          {pv && pv.creates.length > 0 && (
            <div className="preview-creates" data-testid="preview-creates">
              <h5>Would auto-create in Kimai</h5>
              <ul>
                {pv.creates.map((c) => (
                  <li key={`${c.kind}/${c.name}`}>
                    {c.kind} “{c.name}” <span className="muted small">for {c.entries} entr{c.entries === 1 ? "y" : "ies"}</span>
                  </li>
                ))}
              </ul>
            </div>
          )}
          {pv && pv.conflicts.length > 0 && (
            <div className="preview-conflicts" data-testid="preview-conflicts">
              <h5>Would open conflicts</h5>
              <ul>
                {pv.conflicts.map((c) => (
                  <li key={c.kind}>
                    {c.count} × {c.kind.replace(/_/g, " ")}
                  </li>
                ))}
              </ul>
            </div>
          )}
          {pv && pv.groups.length > 0 && <PreviewGroups groups={pv.groups} />}
          {plan.length > 0 && (
            <div className="preview-rows">
              <div className="toolbar">
                <label>
                  Show{" "}
                  <select
                    value={filter}
                    onChange={(e) => {
                      const v = e.target.value;
                      if (isOneOf(filters, v)) setFilter(v);
                      setPage(0);
                    }}
                  >
                    <option value="changes">changes ({plan.length - count("unchanged")})</option>
                    {(["create", "update", "delete", "conflict", "skip", "unchanged"] as const).map((a) => (
                      <option key={a} value={a} disabled={count(a) === 0}>
                        {a} ({count(a)})
                      </option>
                    ))}
                    <option value="all">all ({plan.length})</option>
                  </select>
                </label>
                <label>
                  Find{" "}
                  <input
                    type="search"
                    value={text}
                    placeholder="ticket, customer, project…"
                    onChange={(e) => {
                      setText(e.target.value);
                      setPage(0);
                    }}
                  />
                </label>
                <button type="button" data-testid="plan-csv" onClick={() => downloadCsv(`timebridge-preview-${run.id}.csv`, planCsv(rows))}>
                  Download CSV ({rows.length})
                </button>
              </div>
              {rows.length === 0 ? (
                <Empty>{filter === "changes" ? "Nothing to write: Kimai already matches Zammad." : "No rows match."}</Empty>
              ) : (
                <div className="table-wrap">
                  <table data-testid="plan-table">
                    <thead>
                      <tr>
                        <th scope="col">Action</th>
                        <th scope="col">Ticket</th>
                        <th scope="col">Customer / project</th>
                        <th scope="col">Activity</th>
                        <th scope="col">Change</th>
                      </tr>
                    </thead>
                    <tbody>
                      {shown.map((p, i) => (
                        <tr key={`${p.entry_id}-${i}`} data-action={p.action}>
                          <td>
                            <StatusBadge status={p.action} />
                          </td>
                          <td>
                            <TicketRef bases={bases} ticket_id={p.ticket_id} ticket_number={p.ticket_number} />{" "}
                            <span className="muted small">entry {p.entry_id}</span>
                          </td>
                          <td>
                            {p.customer || p.project ? `${p.customer ?? "—"} / ${p.project ?? "—"}` : "—"}
                            {p.timesheet_id ? (
                              <span className="muted small">
                                {" "}
                                timesheet <TimesheetRef bases={bases} id={p.timesheet_id} />
                              </span>
                            ) : null}
                          </td>
                          <td>{p.activity ?? "—"}</td>
                          <td>{changeText(p)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              )}
              {pages > 1 && (
                <nav className="pager" aria-label="Plan pages">
                  <button type="button" disabled={page === 0} onClick={() => setPage(page - 1)}>
                    Previous
                  </button>
                  <span aria-live="polite">
                    Rows {page * PAGE_ROWS + 1}–{Math.min(rows.length, (page + 1) * PAGE_ROWS)} of {rows.length}
                  </span>
                  <button type="button" disabled={page >= pages - 1} onClick={() => setPage(page + 1)}>
                    Next
                  </button>
                </nav>
              )}
            </div>
          )}
        </>
      )}
    </div>
  );
}

function PreviewGroups({ groups }: { groups: NonNullable<Run["preview"]>["groups"] }) {
  const [by, setBy] = useState<keyof typeof kindLabel>("customer");
  const rows = groups.filter((g) => g.by === by);
  return (
    <div className="preview-groups" data-testid="preview-groups">
      <div className="toolbar" role="group" aria-label="Summarise by">
        {(Object.keys(kindLabel) as (keyof typeof kindLabel)[]).map((k) => (
          <button key={k} type="button" aria-pressed={by === k} onClick={() => setBy(k)}>
            {kindLabel[k]} ({groups.filter((g) => g.by === k).length})
          </button>
        ))}
      </div>
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">{kindLabel[by].replace(/ies$/, "y").replace(/s$/, "")}</th>
              <th scope="col">Creates</th>
              <th scope="col">Updates</th>
              <th scope="col">Deletes</th>
              <th scope="col">Time</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((g) => (
              <tr key={`${g.id ?? "new"}-${g.name}`}>
                <th scope="row">
                  {g.name || "—"} {g.id ? <span className="muted small">#{g.id}</span> : <span className="badge">new</span>}
                </th>
                <td>{g.create}</td>
                <td>{g.update}</td>
                <td>{g.delete}</td>
                <td>{signedHours(g.seconds)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
