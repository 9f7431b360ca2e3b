import { useEffect, useRef, useState } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { api, type Profile, type Run, type RunRequest } from "../api/client";
import { isOneOf } from "../forms/rules";
import { keys, useConflicts, useProfiles, useRunsFor, useSummary } from "../queries";
import { HoursChart } from "./HoursChart";
import { PreviewPanel } from "./Preview";
import { SetupGuide } from "./Guide";
import { useProfileBases } from "./links";
import { Link } from "../router";
import {
  Empty,
  QueryError,
  Section,
  Spinner,
  StatusBadge,
  fmtDuration,
  fmtHours,
  fmtTime,
  useApiMutation,
  useToast,
  Plain,
  plain,
} from "../ui";

const DAY = 86_400_000;
const terminal = (r?: Run) => !!r && r.status !== "queued" && r.status !== "running";

export function countsSummary(r: Run): string {
  const n = r.counts;
  const parts = [`${n.created} created`, `${n.updated} updated`, `${n.deleted} deleted`, `${n.conflicts} conflicts`];
  if (n.errors) parts.push(`${n.errors} errors`);
  return parts.join(", ");
}

/** Polls a run until it finishes. */
export function useRun(id: string | null) {
  return useQuery({
    queryKey: keys.run(id ?? ""),
    queryFn: () => api.getRun(id!),
    enabled: !!id,
    refetchInterval: (q) => (terminal(q.state.data) ? false : 1500),
  });
}

function localDay(t: number): string {
  const d = new Date(t);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

/** The days the card shows: the chart's last 30 days and, for "this month",
 * the whole month; today in the browser's calendar. */
function cardPeriod(now = new Date()) {
  const noon = new Date(now.getFullYear(), now.getMonth(), now.getDate(), 12).getTime();
  const chartFrom = localDay(noon - 29 * DAY);
  const monthStart = localDay(new Date(now.getFullYear(), now.getMonth(), 1, 12).getTime());
  const weekStart = localDay(noon - ((now.getDay() + 6) % 7) * DAY);
  return { from: monthStart < chartFrom ? monthStart : chartFrom, to: localDay(noon), chartFrom, weekStart, monthStart };
}

/** The run modes a profile card offers (range backfills are started through the API). */
const modes = ["incremental", "full"] as const satisfies readonly RunRequest["mode"][];
type Mode = (typeof modes)[number];

function ProfileCard({ p, openConflicts }: { p: Profile; openConflicts: number }) {
  const qc = useQueryClient();
  const toast = useToast();
  const runs = useRunsFor(p.id);
  const period = cardPeriod();
  const live = !!runs.data?.some((r) => !r.dry_run && (r.status === "queued" || r.status === "running"));
  const summary = useSummary(p.id, period.from, period.to, live);
  const [mode, setMode] = useState<Mode>("incremental");
  const [previewId, setPreviewId] = useState<string | null>(null);
  const [watchId, setWatchId] = useState<string | null>(null);
  const preview = useRun(previewId);
  const watched = useRun(watchId);
  const announced = useRef<string | null>(null);
  const bases = useProfileBases(p.id);

  useEffect(() => {
    const r = watched.data;
    if (!r || !terminal(r) || announced.current === r.id) return;
    announced.current = r.id;
    const detail = r.error_detail ? ` ${r.error_detail.message}` : "";
    toast.push(r.status === "failed" ? "error" : r.status === "partial" ? "info" : "success", `Run ${r.status} for “${plain(p.name)}”: ${countsSummary(r)}.${detail}`);
    for (const k of [keys.runs, keys.conflicts, keys.audit, keys.summary]) void qc.invalidateQueries({ queryKey: k });
  }, [watched.data, p.name, qc, toast]);

  const start = useApiMutation({
    mutationFn: (v: { mode: Mode; dry_run: boolean }) => api.startRun(p.id, v),
    success: (r, v) => (r.status === "failed" ? null : v.dry_run ? `Preview queued (${v.mode}); building the plan…` : `${v.mode === "full" ? "Full" : "Incremental"} run queued for “${plain(p.name)}”.`),
    invalidate: () => [keys.runs],
    onSuccess: (r, v) => {
      if (r.status === "failed") toast.push("error", `The run could not be queued; see Runs for the error detail.`);
      if (v.dry_run) setPreviewId(r.id);
      else {
        setWatchId(r.id);
        setPreviewId(null);
      }
    },
  });

  const list = runs.data ?? [];
  const real = list.filter((r) => !r.dry_run);
  // A preview is not a run of the profile: it never counts as the last run.
  const last = real[0];
  const [scheduleDismissed, setScheduleDismissed] = useDismissed(`timebridge.schedule-offer.${p.id}`);
  const offerSchedule = !p.enabled && !scheduleDismissed && real.some((r) => r.status === "succeeded" || r.status === "partial");
  const lastIncr = real.find((r) => r.mode === "incremental");
  const next = !p.enabled
    ? "off — profile disabled"
    : lastIncr
      ? fmtTime(new Date(Math.max(Date.parse(lastIncr.queued_at) + p.interval_minutes * 60_000, Date.now())).toISOString())
      : "within 5 minutes";
  const days = summary.data?.days ?? [];
  const sumFrom = (day: string) => days.reduce((a, d) => (d.day >= day ? a + d.seconds : a), 0);
  const shown = (v: string | number) => (summary.data ? v : summary.isError ? "–" : "…");
  const busy = start.isPending || (!!watchId && !terminal(watched.data));
  const previewBusy = !!previewId && !terminal(preview.data);

  return (
    <article className="card dashboard-card" data-testid="dashboard-card" data-profile={p.id} aria-labelledby={`dash-${p.id}`}>
      <h3 id={`dash-${p.id}`}><Plain text={p.name} /></h3>
      <dl className="stats">
        <div>
          <dt>Last run</dt>
          <dd>{last ? <><StatusBadge status={last.status} /> <span className="small">{fmtTime(last.queued_at)}</span></> : "never"}</dd>
        </div>
        <div>
          <dt>Entries synced</dt>
          <dd data-testid="synced-entries" title="Timesheets this profile holds in Kimai, all time">
            {shown(summary.data?.entries ?? 0)}
          </dd>
        </div>
        <div>
          <dt>Hours this week</dt>
          <dd data-testid="hours-week">{shown(fmtHours(sumFrom(period.weekStart)))}</dd>
        </div>
        <div>
          <dt>Hours this month</dt>
          <dd data-testid="hours-month">{shown(fmtHours(sumFrom(period.monthStart)))}</dd>
        </div>
        <div>
          <dt>Open conflicts</dt>
          <dd data-testid="open-conflicts">{openConflicts}</dd>
        </div>
        <div>
          <dt>Next scheduled run</dt>
          <dd className="small">{next}</dd>
        </div>
      </dl>
      {summary.data && <HoursChart days={days.filter((d) => d.day >= period.chartFrom)} />}
      <div className="actions">
        <button type="button" className="primary" data-testid="sync-now" disabled={busy} onClick={() => start.mutate({ mode: "incremental", dry_run: false })}>
          {busy ? "Syncing…" : "Sync now"}
        </button>
        <label htmlFor={`mode-${p.id}`} className="inline-label">
          Preview mode
        </label>
        <select id={`mode-${p.id}`} value={mode} onChange={(e) => {
            const v = e.target.value;
            if (isOneOf(modes, v)) setMode(v);
          }}>
          <option value="incremental">Incremental</option>
          <option value="full">Full</option>
        </select>
        <button type="button" data-testid="preview" disabled={previewBusy || start.isPending} onClick={() => start.mutate({ mode, dry_run: true })}>
          Preview
        </button>
      </div>
      {busy && watched.data && <Spinner label={`Run ${watched.data.status}…`} />}
      {previewId && (
        <div className="preview" aria-live="polite">
          {!terminal(preview.data) && <Spinner label={`Preview ${preview.data?.status ?? "queued"}… nothing is written.`} />}
          {preview.isError && <QueryError error={preview.error} />}
          {terminal(preview.data) && (
            <PreviewPanel
              run={preview.data!}
              bases={bases}
              applying={busy}
              onApply={() => start.mutate({ mode: preview.data!.mode === "full" ? "full" : "incremental", dry_run: false })}
              onDiscard={() => setPreviewId(null)}
            />
          )}
        </div>
      )}
      {offerSchedule && <EnableSchedule p={p} onDismiss={() => setScheduleDismissed(true)} />}
      <h4>Recent runs</h4>
      {runs.isError && <QueryError error={runs.error} />}
      {list.length === 0 ? (
        <Empty>No runs yet. Press “Preview” to see what would be written, or “Sync now”.</Empty>
      ) : (
        <ul className="recent">
          {list.slice(0, 5).map((r) => (
            <li key={r.id}>
              <StatusBadge status={r.status} /> <Link to={`/runs/${encodeURIComponent(r.id)}`}>{r.dry_run ? "preview" : r.mode}</Link> · {r.trigger} ·{" "}
              {fmtTime(r.queued_at)} · {countsSummary(r)}
              {r.duration_ms > 0 && ` · ${fmtDuration(r.duration_ms)}`}
            </li>
          ))}
        </ul>
      )}
    </article>
  );
}

export function Dashboard() {
  const profiles = useProfiles();
  const open = useConflicts("open");
  return (
    <Section id="dashboard" title="Dashboard">
      <SetupGuide />
      {profiles.isPending && <Spinner />}
      {profiles.isError && <QueryError error={profiles.error} />}
      {profiles.data && profiles.data.length === 0 && (
        <Empty>
          Nothing to show yet. Add a Zammad and a Kimai connector under <Link to="/connectors">Connectors</Link>, then create a sync profile under{" "}
          <Link to="/profiles">Profiles</Link>.
        </Empty>
      )}
      <div className="cards">
        {profiles.data?.map((p) => (
          <ProfileCard key={p.id} p={p} openConflicts={(open.data ?? []).filter((c) => c.profile_id === p.id).length} />
        ))}
      </div>
    </Section>
  );
}

/** A dismissal remembered in this browser (localStorage; a private window forgets it). */
function useDismissed(key: string): [boolean, (v: boolean) => void] {
  const [v, setV] = useState(() => {
    try {
      return localStorage.getItem(key) === "1";
    } catch {
      return false;
    }
  });
  return [
    v,
    (next: boolean) => {
      setV(next);
      try {
        localStorage.setItem(key, next ? "1" : "0");
      } catch {
        // storage unavailable: dismissed for this page only
      }
    },
  ];
}

/** After the first successful sync of a disabled profile: offer to turn on its schedule. */
function EnableSchedule({ p, onDismiss }: { p: Profile; onDismiss: () => void }) {
  const enable = useApiMutation({
    mutationFn: () => api.updateProfile(p.id, { enabled: true, version: p.version }),
    success: () => `Schedule on: “${plain(p.name)}” syncs every ${p.interval_minutes} minutes.`,
    invalidate: () => [keys.profiles],
  });
  return (
    <div className="callout" role="region" aria-label="Turn on the schedule" data-testid="enable-schedule">
      <p>
        The sync worked. Turn on the schedule so that “<Plain text={p.name} />” syncs by itself every {p.interval_minutes} minutes (and right
        away when a Zammad webhook arrives)?
      </p>
      <div className="actions">
        <button type="button" className="primary" disabled={enable.isPending} onClick={() => enable.mutate()}>
          Turn on the schedule
        </button>
        <button type="button" onClick={onDismiss}>
          Not now
        </button>
      </div>
    </div>
  );
}
