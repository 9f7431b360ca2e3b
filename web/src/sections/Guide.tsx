// The guided first run: a checklist derived from what the server holds
// (connectors, profiles, each profile's runs), shown on the Dashboard and as
// a one-line banner above the other pages until every step is done.
import { useState, useSyncExternalStore } from "react";
import { useQueries } from "@tanstack/react-query";
import type { Connector, Profile, Run } from "../api/client";
import { runsForOptions, useConnectors, useProfiles } from "../queries";
import { Link, useLocation } from "../router";

// ---- connectors tested in this browser -------------------------------------
// The API keeps no record of a connector test, so a passed test is
// remembered here (localStorage); a successful real sync proves the
// connection as well.

const TESTED_KEY = "timebridge.tested-connectors";
const TESTED_EVENT = "timebridge:tested";

function readTested(): string {
  try {
    return localStorage.getItem(TESTED_KEY) ?? "";
  } catch {
    return "";
  }
}

/** Records the outcome of a connector's test (ok: passed every check). */
export function markTested(connectorId: string, ok: boolean): void {
  const ids = new Set(readTested().split(",").filter(Boolean));
  if (ok) ids.add(connectorId);
  else ids.delete(connectorId);
  try {
    localStorage.setItem(TESTED_KEY, [...ids].join(","));
  } catch {
    // Storage unavailable: the guide relies on the first successful sync instead.
  }
  window.dispatchEvent(new Event(TESTED_EVENT));
}

function subscribeTested(fn: () => void) {
  window.addEventListener(TESTED_EVENT, fn);
  window.addEventListener("storage", fn);
  return () => {
    window.removeEventListener(TESTED_EVENT, fn);
    window.removeEventListener("storage", fn);
  };
}

/** The ids of the connectors whose last test in this browser passed. */
export function useTestedConnectors(): ReadonlySet<string> {
  const raw = useSyncExternalStore(subscribeTested, readTested, readTested);
  return new Set(raw.split(",").filter(Boolean));
}

// ---- the steps ---------------------------------------------------------------

export type StepId = "zammad" | "kimai" | "profile" | "preview" | "apply" | "schedule";

export interface Step {
  id: StepId;
  title: string;
  /** What to do, in one sentence. */
  todo: string;
  /** The page where it is done. */
  to: string;
  where: string;
  done: boolean;
  /** Said of a step begun but not finished ("added, not tested yet"). */
  note?: string;
}

const worked = (r: Run) => r.status === "succeeded" || r.status === "partial";

/**
 * The setup steps from the server's state. A later step proves an earlier
 * one: a successful real sync proves the connectors work (tested) and makes
 * the preview step moot; only runs of the profiles listed count.
 */
export function setupSteps(connectors: Connector[], profiles: Profile[], runs: Run[], tested: ReadonlySet<string>): Step[] {
  const zammad = connectors.filter((c) => c.kind === "zammad");
  const kimai = connectors.filter((c) => c.kind === "kimai");
  const ours = new Set(profiles.map((p) => p.id));
  const mine = runs.filter((r) => ours.has(r.profile_id));
  const applied = mine.some((r) => !r.dry_run && worked(r));
  const previewed = applied || mine.some((r) => r.dry_run && worked(r));
  const zammadTested = applied || zammad.some((c) => tested.has(c.id));
  return [
    {
      id: "zammad",
      title: "Add and test your Zammad connector",
      todo: "Add the helpdesk’s URL and an API token, then press “Test connection”.",
      to: "/connectors",
      where: "Connectors",
      done: zammad.length > 0 && zammadTested,
      note: zammad.length > 0 && !zammadTested ? "Added; its connection has not passed a test yet." : undefined,
    },
    {
      id: "kimai",
      title: "Add your Kimai connector",
      todo: "Add the time tracker’s URL and an API token (test it too).",
      to: "/connectors",
      where: "Connectors",
      done: kimai.length > 0,
    },
    {
      id: "profile",
      title: "Create a sync profile",
      todo: "Pair the two connectors and choose how time is booked.",
      to: "/profiles",
      where: "Profiles",
      done: profiles.length > 0,
    },
    {
      id: "preview",
      title: "Preview a sync",
      todo: "Press “Preview” on the profile’s card: it shows what would be written, and writes nothing.",
      to: "/",
      where: "Dashboard",
      done: previewed,
    },
    {
      id: "apply",
      title: "Apply it",
      todo: "Press “Apply” under the preview: the timesheets are written to Kimai.",
      to: "/",
      where: "Dashboard",
      done: applied,
    },
    {
      id: "schedule",
      title: "Turn on the schedule",
      todo: "Press “Turn on the schedule” on the profile’s card (or tick “Enabled” in the profile): it then syncs by itself.",
      to: "/",
      where: "Dashboard",
      done: profiles.some((p) => p.enabled),
    },
  ];
}

export interface Setup {
  /** False until the connectors, profiles and runs are read. */
  known: boolean;
  steps: Step[];
  complete: boolean;
}

/** The setup steps of this Timebridge, read from the server (the queries are shared with the pages). */
export function useSetup(): Setup {
  const connectors = useConnectors();
  const profiles = useProfiles();
  const runs = useQueries({ queries: (profiles.data ?? []).map((p) => runsForOptions(p.id)) });
  const tested = useTestedConnectors();
  const known = !!connectors.data && !!profiles.data && runs.every((r) => !!r.data);
  const steps = setupSteps(connectors.data ?? [], profiles.data ?? [], runs.flatMap((r) => r.data ?? []), tested);
  return { known, steps, complete: known && steps.every((s) => s.done) };
}

/** The full checklist (Dashboard); nothing once setup is complete or while unknown. */
export function SetupGuide() {
  const setup = useSetup();
  const { path } = useLocation();
  if (!setup.known || setup.complete) return null;
  const next = setup.steps.find((s) => !s.done);
  const done = setup.steps.filter((s) => s.done).length;
  return (
    <section className="card guide" aria-labelledby="guide-title" data-testid="setup-guide">
      <h3 id="guide-title">Get started</h3>
      <p className="muted small">
        {done} of {setup.steps.length} steps done. Each step links to the page where it is done; this list goes away when all are done.
      </p>
      <ol className="guide-steps">
        {setup.steps.map((s) => (
          <li
            key={s.id}
            data-testid="guide-step"
            data-step={s.id}
            data-done={s.done ? "true" : "false"}
            className={s.done ? "done" : s === next ? "next" : undefined}
            aria-current={s === next ? "step" : undefined}
          >
            <span className="guide-mark" aria-hidden="true">
              {s.done ? "✓" : ""}
            </span>
            <div>
              <strong>{s.title}</strong> <span className="sr-only">{s.done ? "(done)" : "(to do)"}</span>
              {!s.done && (
                <div className="small">
                  {s.todo} {s.note && <span className="muted">{s.note} </span>}
                  {s.to === path ? (
                    <span className="muted">(here, below)</span>
                  ) : (
                    <Link to={s.to}>{s === next ? `Go to ${s.where}` : s.where}</Link>
                  )}
                </div>
              )}
            </div>
          </li>
        ))}
      </ol>
    </section>
  );
}

/** One line above the other pages while setup is incomplete: the next step and where it is done. */
export function SetupBanner() {
  const setup = useSetup();
  if (!setup.known || setup.complete) return null;
  const next = setup.steps.find((s) => !s.done);
  if (!next) return null;
  const n = setup.steps.indexOf(next) + 1;
  return (
    <aside className="guide-banner" aria-label="Setup" data-testid="setup-banner">
      Setup, step {n} of {setup.steps.length}: <strong>{next.title}</strong> — <Link to={next.to}>on {next.where}</Link>
      {next.to !== "/" && (
        <>
          {" "}
          · <Link to="/">all steps</Link>
        </>
      )}
    </aside>
  );
}

/**
 * Whether an Add form was opened (true) or closed (false) by its button;
 * null until the reader uses it, so the page's default applies.
 */
export function useAddToggle(): [boolean | null, (open: boolean) => void] {
  const [v, setV] = useState<boolean | null>(null);
  return [v, setV];
}
