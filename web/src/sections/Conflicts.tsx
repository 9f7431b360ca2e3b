import { useState } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { api, type Conflict, type Resolution, type Run, type Timesheet } from "../api/client";
import { schemaLimits } from "../api/limits";
import { isOneOf } from "../forms/rules";
import { keys, useConflicts, useProfiles } from "../queries";
import {
  Empty,
  QueryError,
  Section,
  Spinner,
  errorMessage,
  fmtHours,
  fmtTime,
  useApiMutation,
  useToast,
  Plain,
} from "../ui";
import { TicketRef, TimesheetRef, useBasesOf, type ExternalBases } from "./links";

export const actionLabels: Record<Resolution, string> = {
  use_zammad: "Use Zammad",
  keep_kimai: "Keep Kimai",
  skip: "Skip",
  retry: "Retry",
};

const kindLabels: Record<Conflict["kind"], string> = {
  edited_in_kimai: "Edited in Kimai",
  deleted_in_kimai: "Deleted in Kimai",
  locked_in_kimai: "Locked (exported) in Kimai",
  duplicate_in_kimai: "Duplicate in Kimai",
  deleted_in_zammad: "Deleted in Zammad",
  unmapped_activity: "Unmapped activity",
  unmapped_customer: "Unmapped customer",
  unmapped_project: "Unmapped project",
  unmapped_user: "Unmapped user",
  rejected_by_kimai: "Rejected by Kimai",
  unmatched_negative: "Unmatched negative correction",
  unreadable_in_kimai: "Not readable in Kimai",
  time_mismatch: "Time stored differently in Kimai",
};

/** A name with its id as secondary text, or the id alone when the name is unknown. */
function Named({ name, id, what }: { name?: string; id?: number | null; what: string }) {
  if (!name) return <>{id ? `${what} #${id}` : "—"}</>;
  return (
    <>
      <Plain text={name} />
      {id ? <span className="muted small"> #{id}</span> : null}
    </>
  );
}

function SheetView({ s, label, names, bases }: { s?: Timesheet; label: string; names?: Conflict["names"]; bases?: ExternalBases }) {
  if (!s) return <p className="muted">{label}</p>;
  return (
    <dl className="kv">
      {s.id !== undefined && (
        <>
          <dt>Timesheet</dt>
          <dd>
            <TimesheetRef bases={bases} id={s.id} />
          </dd>
        </>
      )}
      <dt>Begin</dt>
      <dd>{fmtTime(s.begin)}</dd>
      <dt>End</dt>
      <dd>{fmtTime(s.end)}</dd>
      <dt>Duration</dt>
      <dd>{fmtHours(s.duration)}</dd>
      {names?.customer && (
        <>
          <dt>Customer</dt>
          <dd>
            <Plain text={names.customer} />
          </dd>
        </>
      )}
      <dt>Project / activity</dt>
      <dd>
        <Named name={names?.project} id={s.project} what="project" /> / <Named name={names?.activity} id={s.activity} what="activity" />
      </dd>
      {s.user !== undefined && (
        <>
          <dt>User</dt>
          <dd>#{s.user}</dd>
        </>
      )}
      {s.description && (
        <>
          <dt>Description</dt>
          <dd>{s.description}</dd>
        </>
      )}
      {s.exported && (
        <>
          <dt>Exported</dt>
          <dd>yes (locked)</dd>
        </>
      )}
    </dl>
  );
}

export function ConflictCard({ c, bases }: { c: Conflict; /** The profile's Zammad and Kimai base URLs: the ticket and timesheets link there. */ bases?: ExternalBases }) {
  const resolve = useApiMutation({
    mutationFn: (action: Resolution) => api.resolveConflict(c.id, action),
    success: (r, action) => `Entry ${c.entry_id}: ${actionLabels[action]} — ${r.status === "resolved" ? "resolved" : "requested"}.`,
    invalidate: () => [keys.conflicts, keys.runs, keys.audit],
  });
  const z = c.zammad;
  return (
    <article className="card conflict" data-testid="conflict-card" data-entry={c.entry_id} aria-labelledby={`conflict-${c.id}`}>
      <h4 id={`conflict-${c.id}`}>
        <TicketRef bases={bases} ticket_id={c.ticket_id} ticket_number={z?.ticket_number} capital /> · entry {c.entry_id}
        {z?.ticket_title ? (
          <>
            {" — "}
            <Plain text={z.ticket_title} />
          </>
        ) : null}
      </h4>
      <p><Plain text={c.message} /></p>
      <div className="sides">
        <div className="side" aria-label="Zammad side">
          <h5>Zammad</h5>
          {z ? (
            <dl className="kv">
              <dt>Time units</dt>
              <dd>
                {z.time_unit ?? "—"}
                {z.net_unit && z.net_unit !== z.time_unit ? ` (net ${z.net_unit})` : ""}
              </dd>
              <dt>Type / agent</dt>
              <dd>
                <Named name={c.names?.type} id={z.type_id} what="type" /> / <Named name={c.names?.agent} id={z.agent_id} what="agent" />
              </dd>
              <dt>Booked</dt>
              <dd>{fmtTime(z.created_at)}</dd>
              {c.source_key && (
                <>
                  <dt>Source</dt>
                  <dd>{c.source_key}</dd>
                </>
              )}
            </dl>
          ) : (
            <p className="muted">The entry no longer exists in Zammad.</p>
          )}
          {c.desired && (
            <>
              <h6>Timebridge would write</h6>
              <SheetView s={c.desired} label="Nothing to write." names={c.names} />
            </>
          )}
        </div>
        <div className="side" aria-label="Kimai side">
          <h5>Kimai</h5>
          <SheetView s={c.kimai} label="No Kimai timesheet for this entry." names={c.desired ? undefined : c.names} bases={bases} />
          {c.duplicates && c.duplicates.length > 0 && (
            <p className="small">
              Duplicates:{" "}
              {c.duplicates.map((d, i) => (
                <span key={d}>
                  {i > 0 && ", "}
                  <TimesheetRef bases={bases} id={d} />
                </span>
              ))}
            </p>
          )}
        </div>
      </div>
      <div className="actions" role="group" aria-label={`Resolve entry ${c.entry_id}`}>
        {c.actions.map((a) => (
          <button key={a} type="button" data-testid={`resolve-${a}`} className={a === "use_zammad" ? "primary" : undefined} disabled={resolve.isPending} onClick={() => resolve.mutate(a)}>
            {actionLabels[a]}
          </button>
        ))}
        {resolve.isPending && <Spinner label="Resolving…" />}
      </div>
    </article>
  );
}

const PAGE = 100;

export function ConflictGroup({
  kind,
  items,
  basesOf = () => ({}),
}: {
  kind: Conflict["kind"];
  items: Conflict[];
  basesOf?: (profileId: string) => ExternalBases;
}) {
  const qc = useQueryClient();
  const toast = useToast();
  const common = schemaLimits.ResolveRequest.action.enum.filter((a) => items.every((c) => c.actions.includes(a)));
  const [action, setAction] = useState<Resolution | "">("");
  const [progress, setProgress] = useState<{ done: number; total: number } | null>(null);
  const chosen = action || common[0] || "";
  const [showAll, setShowAll] = useState(false);

  async function bulk() {
    if (!chosen) return;
    const list = items.slice();
    let ok = 0;
    const failures: string[] = [];
    setProgress({ done: 0, total: list.length });
    // One API call per conflict, a few at a time, in list order.
    let next = 0;
    const worker = async () => {
      while (next < list.length) {
        const c = list[next++];
        try {
          await api.resolveConflict(c.id, chosen);
          ok++;
        } catch (e) {
          failures.push(`entry ${c.entry_id}: ${errorMessage(e)}`);
        }
        setProgress((p) => (p ? { ...p, done: p.done + 1 } : p));
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, list.length) }, worker));
    setProgress(null);
    if (ok > 0) toast.push("success", `${actionLabels[chosen]}: ${ok} of ${list.length} conflicts resolved.`);
    if (failures.length > 0) toast.push("error", `${failures.length} failed — ${failures.slice(0, 3).join("; ")}`);
    for (const k of [keys.conflicts, keys.runs, keys.audit]) void qc.invalidateQueries({ queryKey: k });
  }

  const selectId = `bulk-${kind}`;
  return (
    <section className="conflict-group" data-testid="conflict-group" data-kind={kind} aria-labelledby={`group-${kind}`}>
      <h3 id={`group-${kind}`}>
        {kindLabels[kind] ?? kind} <span className="count">{items.length}</span>
      </h3>
      {items.length > 1 && common.length > 0 && (
        <div className="toolbar bulk">
          <label htmlFor={selectId}>Resolve all {items.length} with</label>
          <select id={selectId} value={chosen} onChange={(e) => {
              const v = e.target.value;
              if (isOneOf(common, v)) setAction(v);
            }} disabled={!!progress}>
            {common.map((a) => (
              <option key={a} value={a}>
                {actionLabels[a]}
              </option>
            ))}
          </select>
          <button type="button" data-testid="bulk-resolve" onClick={bulk} disabled={!!progress}>
            Resolve all
          </button>
          {progress && (
            <span role="status">
              <progress max={progress.total} value={progress.done} aria-label="Bulk resolve progress" /> {progress.done}/{progress.total}
            </span>
          )}
        </div>
      )}
      <div className="conflict-list">
        {(showAll ? items : items.slice(0, PAGE)).map((c) => (
          <ConflictCard key={c.id} c={c} bases={basesOf(c.profile_id)} />
        ))}
      </div>
      {!showAll && items.length > PAGE && (
        <button type="button" onClick={() => setShowAll(true)}>
          Show all {items.length}
        </button>
      )}
    </section>
  );
}

/**
 * What "no open conflicts" means depends on the runs: nothing has synced yet,
 * a sync is under way, the last sync had errors, or it synced cleanly. Only
 * real runs count (a preview writes nothing), newest first as the API lists.
 */
export function noConflictsText(runs: Run[] | null): string {
  // The runs could not be read: say only what is known.
  if (runs === null) return "No open conflicts.";
  const real = runs.filter((r) => !r.dry_run);
  const done = real.find((r) => r.status !== "queued" && r.status !== "running");
  if (!done) {
    if (real.length > 0) return "No open conflicts yet. The first sync is under way; conflicts appear here when it finds any.";
    return "No open conflicts, because nothing has synced yet. Conflicts appear here after a sync (preview and apply one from the Dashboard).";
  }
  if (done.status === "succeeded") return "No open conflicts. The last sync ran cleanly; new conflicts appear here after a run.";
  return `No open conflicts, but the last sync ended ${done.status}: see Runs for its errors.`;
}

export function Conflicts() {
  const open = useConflicts("open");
  const resolved = useConflicts("resolved");
  const profiles = useProfiles();
  const basesOf = useBasesOf();
  const [profileId, setProfileId] = useState("");
  const runs = useQuery({
    queryKey: [...keys.runs, "latest", profileId],
    queryFn: () => api.listRuns({ profile_id: profileId || undefined, limit: 25 }).then((r) => r.items),
  });
  const filter = (xs: Conflict[]) => (profileId ? xs.filter((c) => c.profile_id === profileId) : xs);
  const groups = new Map<Conflict["kind"], Conflict[]>();
  for (const c of filter(open.data ?? [])) groups.set(c.kind, [...(groups.get(c.kind) ?? []), c]);
  const history = filter(resolved.data ?? [])
    .slice()
    .sort((a, b) => (b.resolved_at ?? b.updated_at).localeCompare(a.resolved_at ?? a.updated_at))
    .slice(0, 50);
  return (
    <Section id="conflicts" title="Conflicts">
      <p className="muted">What Timebridge cannot decide safely waits here. Each resolution is audited.</p>
      {(profiles.data?.length ?? 0) > 1 && (
        <div className="toolbar">
          <label htmlFor="conflict-profile">Profile</label>
          <select id="conflict-profile" value={profileId} onChange={(e) => setProfileId(e.target.value)}>
            <option value="">All profiles</option>
            {profiles.data!.map((p) => (
              <option key={p.id} value={p.id}>
                <Plain text={p.name} />
              </option>
            ))}
          </select>
        </div>
      )}
      {open.isPending && <Spinner />}
      {open.isError && <QueryError error={open.error} />}
      {open.data && groups.size === 0 && !runs.isPending && (
        <div data-testid="no-conflicts">
          <Empty>{noConflictsText(runs.data ?? null)}</Empty>
        </div>
      )}
      {[...groups.entries()].map(([kind, items]) => (
        <ConflictGroup key={kind} kind={kind} items={items} basesOf={basesOf} />
      ))}
      <details className="history">
        <summary>Resolved history ({history.length})</summary>
        {resolved.isError && <QueryError error={resolved.error} />}
        {history.length === 0 ? (
          <Empty>No resolved conflicts yet.</Empty>
        ) : (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Entry</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Resolution</th>
                  <th scope="col">By</th>
                  <th scope="col">When</th>
                </tr>
              </thead>
              <tbody>
                {history.map((c) => (
                  <tr key={c.id}>
                    <td>
                      {c.entry_id} (ticket <TicketRef bases={basesOf(c.profile_id)} ticket_id={c.ticket_id} ticket_number={c.zammad?.ticket_number} />)
                    </td>
                    <td>{kindLabels[c.kind] ?? c.kind}</td>
                    <td>{c.resolution ? actionLabels[c.resolution] : "—"}</td>
                    <td>{c.resolved_by ?? "—"}</td>
                    <td>{fmtTime(c.resolved_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </details>
    </Section>
  );
}

