// The reconciliation report of a profile: what Zammad booked against what
// Kimai holds, per customer, project, activity, agent or ticket, for a
// period; totals first, then the days, then the groups with the reasons
// they differ. The choices live in the address (?profile&from&to&group_by),
// so a report can be shared as a link; the CSV is the server's.
import { useEffect, useMemo, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { api, type GroupBy, type ReportGroup, type ReportReason } from "../api/client";
import { queryLimits } from "../api/limits";
import { isOneOf } from "../forms/rules";
import { useConnectors, useProfiles } from "../queries";
import { Empty, QueryError, Section, Spinner, downloadCsv, errorMessage, fmtTime, useToast, Plain, ProfileSelect } from "../ui";
import { ReportChart } from "./ReportChart";
import { addDays, hours1, isDay, lastMonth, minutes, thisMonth, zammadTicketUrl } from "./pageUtil";
import "./pages.css";

const groupBys = queryLimits.getReport.group_by.enum;
export const DEFAULT_GROUP_BY: GroupBy = queryLimits.getReport.group_by.default;
const MAX_DAYS = 366;

const groupLabel: Record<GroupBy, string> = {
  customer: "Customer",
  project: "Project",
  activity: "Activity",
  agent: "Agent",
  ticket: "Ticket",
};

const reasonLabel: Record<ReportReason["reason"], string> = {
  open_conflict: "open conflict",
  skipped: "skipped",
  pending: "not synced yet",
  failed: "failed",
  edited_in_kimai: "edited in Kimai",
  deleted_in_kimai: "deleted in Kimai",
};

/** "2.5 h open conflict, 0.5 h edited in Kimai". */
export function reasonsText(reasons: ReportReason[]): string {
  return reasons.map((r) => `${hours1(r.seconds)} ${reasonLabel[r.reason]}`).join(", ");
}

const periods = ["this-month", "last-month", "custom"] as const;
type Period = (typeof periods)[number];

export interface ReportParams {
  profile: string;
  from: string;
  to: string;
  group_by: GroupBy;
}

/** The report's choices from a query string; anything missing or invalid takes its default (this month, by customer). */
export function paramsFromSearch(search: string, now = new Date()): ReportParams {
  const sp = new URLSearchParams(search);
  const month = thisMonth(now);
  const from = sp.get("from");
  const to = sp.get("to");
  const g = sp.get("group_by") ?? "";
  const period = isDay(from) && isDay(to) ? { from, to } : month;
  return { profile: sp.get("profile") ?? "", ...period, group_by: isOneOf(groupBys, g) ? g : DEFAULT_GROUP_BY };
}

/** The query string of the choices (?profile=…&from=…&to=…&group_by=…). */
export function searchOf(p: ReportParams): string {
  const sp = new URLSearchParams();
  if (p.profile) sp.set("profile", p.profile);
  sp.set("from", p.from);
  sp.set("to", p.to);
  sp.set("group_by", p.group_by);
  return `?${sp.toString()}`;
}

export function periodOf(p: Pick<ReportParams, "from" | "to">, now = new Date()): Period {
  const m = thisMonth(now);
  const l = lastMonth(now);
  if (p.from === m.from && p.to === m.to) return "this-month";
  if (p.from === l.from && p.to === l.to) return "last-month";
  return "custom";
}

/** Why a custom period cannot be asked for, or null. */
export function periodProblem(from: string, to: string): string | null {
  if (!isDay(from) || !isDay(to)) return "Enter both days of the period.";
  if (from > to) return "The first day must not be after the last day.";
  let n = 1;
  for (let d = from; d < to && n <= MAX_DAYS; d = addDays(d, 1)) n++;
  if (n > MAX_DAYS) return `A report covers at most ${MAX_DAYS} days.`;
  return null;
}

/** Hours with one decimal, the exact minutes in its title. */
function Hours({ s, testid }: { s: number; testid?: string }) {
  return (
    <span title={minutes(s)} data-seconds={s} data-testid={testid}>
      {hours1(s)}
    </span>
  );
}

export function Reports() {
  const profiles = useProfiles();
  const connectors = useConnectors();
  const toast = useToast();
  const [params, setParams] = useState<ReportParams>(() => paramsFromSearch(location.search));
  const [period, setPeriod] = useState<Period>(() => periodOf(params));
  const [custom, setCustom] = useState({ from: params.from, to: params.to });
  const [downloading, setDownloading] = useState(false);

  // A profile chosen by default: the first, once they are loaded (or the
  // first when the address names one that does not exist).
  const list = profiles.data;
  useEffect(() => {
    if (!list || list.length === 0) return;
    if (!list.some((p) => p.id === params.profile)) setParams((p) => ({ ...p, profile: list[0].id }));
  }, [list, params.profile]);

  // Back and forward to another report's address show that report.
  useEffect(() => {
    const onPop = () => {
      if (!/\/reports\/?$/.test(location.pathname)) return;
      const next = paramsFromSearch(location.search);
      setParams((p) => (searchOf(p) === searchOf(next) ? p : next));
      setPeriod(periodOf(next));
      setCustom({ from: next.from, to: next.to });
    };
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);

  // The address follows the choices (replaceState: no history entry per change).
  useEffect(() => {
    const next = searchOf(params);
    if (location.search !== next) history.replaceState(history.state, "", `${location.pathname}${next}${location.hash}`);
  }, [params]);

  const problem = period === "custom" ? periodProblem(custom.from, custom.to) : null;
  const profile = list?.find((p) => p.id === params.profile);
  const ready = !!profile && !problem;
  const query = { from: params.from, to: params.to, group_by: params.group_by };
  const q = useQuery({
    queryKey: ["report", params.profile, params.from, params.to, params.group_by],
    queryFn: () => api.report(params.profile, query),
    enabled: ready,
  });
  const zammadBase = useMemo(
    () => connectors.data?.find((c) => c.id === profile?.zammad_connector_id)?.base_url,
    [connectors.data, profile?.zammad_connector_id],
  );

  function choosePeriod(v: Period) {
    setPeriod(v);
    if (v === "this-month") setParams((p) => ({ ...p, ...thisMonth() }));
    else if (v === "last-month") setParams((p) => ({ ...p, ...lastMonth() }));
    else setCustom({ from: params.from, to: params.to });
  }
  function setCustomDay(which: "from" | "to", day: string) {
    const next = { ...custom, [which]: day };
    setCustom(next);
    if (!periodProblem(next.from, next.to)) setParams((p) => ({ ...p, from: next.from, to: next.to }));
  }

  async function downloadServerCsv() {
    setDownloading(true);
    try {
      const f = await api.reportCsv(params.profile, query);
      downloadCsv(f.filename, f.text);
    } catch (e) {
      toast.push("error", errorMessage(e));
    } finally {
      setDownloading(false);
    }
  }

  const r = q.data;
  return (
    <Section id="reports" title="Reports">
      {profiles.isPending && <Spinner />}
      {profiles.isError && <QueryError error={profiles.error} />}
      {list && list.length === 0 && (
        <Empty>
          No profiles yet. Create a sync profile under <a href="/profiles">Profiles</a> and sync it; its report then shows here.
        </Empty>
      )}
      {list && list.length > 0 && (
        <form className="toolbar report-controls" aria-label="Report options" onSubmit={(e) => e.preventDefault()}>
          <div className="filter-field">
            <label htmlFor="report-profile">Profile</label>
            <ProfileSelect
              id="report-profile"
              value={params.profile}
              onChange={(v) => setParams((p) => ({ ...p, profile: v }))}
              profiles={list}
            />
          </div>
          <div className="filter-field">
            <label htmlFor="report-period">Period</label>
            <select
              id="report-period"
              value={period}
              onChange={(e) => {
                const v = e.target.value;
                if (isOneOf(periods, v)) choosePeriod(v);
              }}
            >
              <option value="this-month">This month</option>
              <option value="last-month">Last month</option>
              <option value="custom">Custom…</option>
            </select>
          </div>
          {period === "custom" && (
            <>
              <div className="filter-field">
                <label htmlFor="report-from">From</label>
                <input
                  id="report-from"
                  type="date"
                  value={custom.from}
                  aria-invalid={problem ? true : undefined}
                  aria-describedby={problem ? "report-period-problem" : undefined}
                  onChange={(e) => setCustomDay("from", e.target.value)}
                />
              </div>
              <div className="filter-field">
                <label htmlFor="report-to">To</label>
                <input
                  id="report-to"
                  type="date"
                  value={custom.to}
                  aria-invalid={problem ? true : undefined}
                  aria-describedby={problem ? "report-period-problem" : undefined}
                  onChange={(e) => setCustomDay("to", e.target.value)}
                />
              </div>
            </>
          )}
          <div className="filter-field">
            <label htmlFor="report-group-by">Group by</label>
            <select
              id="report-group-by"
              value={params.group_by}
              onChange={(e) => {
                const v = e.target.value;
                if (isOneOf(groupBys, v)) setParams((p) => ({ ...p, group_by: v }));
              }}
            >
              {groupBys.map((g) => (
                <option key={g} value={g}>
                  {groupLabel[g]}
                </option>
              ))}
            </select>
          </div>
          <button type="button" data-testid="report-csv" disabled={!ready || downloading} onClick={() => void downloadServerCsv()}>
            {downloading ? "Preparing CSV…" : "Download CSV"}
          </button>
        </form>
      )}
      {problem && (
        <p id="report-period-problem" className="field-error" role="alert">
          {problem}
        </p>
      )}
      {ready && q.isPending && <Spinner label="Building the report…" />}
      {q.isError && <QueryError error={q.error} />}
      {r && ready && (
        <div className="report" data-testid="report" aria-busy={q.isFetching}>
          <h3>
            Totals, {r.from} to {r.to}
          </h3>
          <p className="small muted" data-testid="report-observed">
            {r.observed_at
              ? `Kimai as of ${fmtTime(r.observed_at)} (when a run last read it).`
              : "Kimai has not been read yet: the Kimai numbers fill in after the profile's first sync."}
          </p>
          <dl className="stats report-totals" data-testid="report-totals">
            <div>
              <dt>Zammad</dt>
              <dd>
                <Hours s={r.totals.zammad_seconds} testid="total-zammad" />
              </dd>
            </div>
            <div>
              <dt>Written</dt>
              <dd>
                <Hours s={r.totals.written_seconds} testid="total-written" />
              </dd>
            </div>
            <div>
              <dt>Kimai now</dt>
              <dd>
                <Hours s={r.totals.kimai_seconds} testid="total-kimai" />
              </dd>
            </div>
            <div className={r.totals.difference_seconds !== 0 ? "count-warn" : undefined}>
              <dt>Difference</dt>
              <dd>
                <Hours s={r.totals.difference_seconds} testid="total-difference" />
              </dd>
            </div>
            <div>
              <dt>Billed</dt>
              <dd>
                <Hours s={r.totals.billed_seconds} testid="total-billed" />
              </dd>
            </div>
          </dl>
          {r.totals.reasons.length > 0 && <p className="small">Why they differ: {reasonsText(r.totals.reasons)}.</p>}

          <h3>By day worked</h3>
          <ReportChart days={r.days} />

          <h3>By {groupLabel[r.group_by].toLowerCase()}</h3>
          {r.groups.length === 0 ? (
            <Empty>Nothing was booked in this period. Choose another period or profile.</Empty>
          ) : (
            <GroupsTable groups={r.groups} by={r.group_by} totals={r.totals} zammadBase={zammadBase} />
          )}
        </div>
      )}
    </Section>
  );
}

function GroupsTable({ groups, by, totals, zammadBase }: { groups: ReportGroup[]; by: GroupBy; totals: ReportGroup; zammadBase?: string }) {
  return (
    <div className="table-wrap" role="region" aria-label={`Report by ${groupLabel[by].toLowerCase()}`} tabIndex={0}>
      <table data-testid="report-table" className="report-table">
        <thead>
          <tr>
            <th scope="col">{groupLabel[by]}</th>
            <th scope="col" className="num">
              Entries
            </th>
            <th scope="col" className="num">
              Zammad
            </th>
            <th scope="col" className="num">
              Written
            </th>
            <th scope="col" className="num">
              Kimai
            </th>
            <th scope="col">Difference</th>
            <th scope="col" className="num">
              Billed
            </th>
          </tr>
        </thead>
        <tbody>
          {groups.map((g, i) => (
            <tr key={`${g.key}-${i}`} data-testid="report-row" data-key={g.key}>
              <th scope="row" className="wrap-text">
                <GroupName g={g} by={by} zammadBase={zammadBase} />
              </th>
              <Cells g={g} />
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr data-testid="report-total-row">
            <th scope="row">Total</th>
            <Cells g={totals} />
          </tr>
        </tfoot>
      </table>
    </div>
  );
}

function GroupName({ g, by, zammadBase }: { g: ReportGroup; by: GroupBy; zammadBase?: string }) {
  const name = g.name || (g.key ? g.key : `No ${groupLabel[by].toLowerCase()} (unmapped)`);
  const ticketId = by === "ticket" ? g.ticket_id : undefined;
  return (
    <>
      {ticketId && zammadBase ? (
        <a href={zammadTicketUrl(zammadBase, ticketId)} target="_blank" rel="noreferrer noopener">
          <Plain text={name} />
        </a>
      ) : (
        <Plain text={name} />
      )}
      {by === "ticket" && g.billed && (
        <>
          {" "}
          <span className="badge badge-billed" title="Every synced entry of the ticket is exported in Kimai">
            billed
          </span>
        </>
      )}
    </>
  );
}

function Cells({ g }: { g: ReportGroup }) {
  return (
    <>
      <td className="num" data-col="entries">
        {g.entries}
      </td>
      <td className="num nowrap" data-col="zammad">
        <Hours s={g.zammad_seconds} />
      </td>
      <td className="num nowrap" data-col="written">
        <Hours s={g.written_seconds} />
      </td>
      <td className="num nowrap" data-col="kimai">
        <Hours s={g.kimai_seconds} />
      </td>
      <td className="wrap-text" data-col="difference">
        <Hours s={g.difference_seconds} />
        {g.reasons.length > 0 && <div className="small muted">{reasonsText(g.reasons)}</div>}
      </td>
      <td className="num nowrap" data-col="billed">
        <Hours s={g.billed_seconds} />
      </td>
    </>
  );
}
