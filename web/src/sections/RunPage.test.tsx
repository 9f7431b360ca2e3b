import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { useState } from "react";
import { act, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { EntryOutcome, Run } from "../api/client";
import { mockFetch, renderWithProviders, signIn, type Call } from "../test/helpers";
import { POLL_MS, RunPage, countOf, initialFilter } from "./RunPage";

const ID = "01JQ7Z3M2Y8K4T6V9B1C5D7F0H";
const zeros = { seen: 0, created: 0, updated: 0, deleted: 0, unchanged: 0, skipped: 0, conflicts: 0, errors: 0 };

function run(over: Partial<Run> = {}): Run {
  return {
    id: ID,
    profile_id: "p1",
    trigger: "manual",
    mode: "full",
    dry_run: false,
    status: "succeeded",
    queued_at: "2026-03-02T10:00:00Z",
    started_at: "2026-03-02T10:00:01Z",
    finished_at: "2026-03-02T10:00:31Z",
    duration_ms: 30_000,
    requester: "admin",
    counts: { ...zeros },
    ...over,
  };
}

const entry = (i: number, outcome: EntryOutcome["outcome"], over: Partial<EntryOutcome> = {}): EntryOutcome => ({
  entry_id: 1000 + i,
  ticket_id: 70 + i,
  ticket_number: String(31000 + i),
  outcome,
  seconds: 1800,
  customer: "Acme",
  project: "Support",
  activity: "Remote",
  ...over,
});

const profiles = { items: [{ id: "p1", name: "Support", zammad_connector_id: "cz", kimai_connector_id: "ck" }] };
const connectors = { items: [{ id: "cz", kind: "zammad", name: "Z", base_url: "https://zammad.example.com/" }] };

// Advances the fake clock, then lets the answers of the requests it caused
// arrive: fetch's body is read on real ticks (which fake timers do not run),
// and what follows takes a little fake time (React Query notifies on timeouts).
// setImmediate is not faked: a real turn of the event loop.
const realImmediate = (fn: () => void) => (globalThis as unknown as { setImmediate: (f: () => void) => void }).setImmediate(fn);

async function tick(ms: number) {
  await act(() => vi.advanceTimersByTimeAsync(ms));
  for (let i = 0; i < 10; i++) {
    for (let j = 0; j < 3; j++) await act(() => new Promise<void>((r) => realImmediate(r)));
    await act(() => vi.advanceTimersByTimeAsync(1));
  }
}

const query = (c: Call) => new URL(c.url, "http://x").searchParams;

beforeEach(() => signIn());
afterEach(() => {
  vi.useRealTimers();
});

describe("RunPage while the run is active", () => {
  it("polls every 2 s with a progress bar and a ticking elapsed time, and stops polling when the run ends", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
    vi.setSystemTime(new Date("2026-03-02T10:00:11Z"));
    const states: Run[] = [
      run({ status: "running", finished_at: undefined, duration_ms: 0, progress: { phase: "writing", done: 10, total: 40, updated_at: "2026-03-02T10:00:10Z" }, counts: { ...zeros, seen: 40, created: 10 } }),
      run({ status: "running", finished_at: undefined, duration_ms: 0, progress: { phase: "writing", done: 25, total: 40, updated_at: "2026-03-02T10:00:12Z" }, counts: { ...zeros, seen: 40, created: 25 } }),
      run({ status: "succeeded", counts: { ...zeros, seen: 40, created: 40 } }),
    ];
    let n = 0;
    const { calls } = mockFetch({
      "GET /api/runs/{id}": () => ({ body: states[Math.min(n++, states.length - 1)] }),
      "GET /api/runs/{id}/entries": { body: { items: [entry(1, "created")], total: 1, next_cursor: "" } },
      "GET /api/profiles": { body: profiles },
      "GET /api/connectors": { body: connectors },
    });
    renderWithProviders(<RunPage runId={ID} />);
    await tick(0);
    const bar = screen.getByRole("progressbar");
    expect(bar).toHaveAttribute("aria-valuenow", "10");
    expect(bar).toHaveAttribute("aria-valuemax", "40");
    expect(bar).toHaveAccessibleName(/Writing to Kimai: 10 of 40/);
    expect(screen.getByTestId("run-elapsed")).toHaveTextContent("10 s");
    expect(within(screen.getByTestId("run-counts")).getByText("10")).toBeInTheDocument();
    // Outcomes are stored when the run ends: not asked for while it runs.
    expect(screen.getByTestId("entries-later")).toBeInTheDocument();
    const entryGets = () => calls.filter((c) => c.url.includes("/entries")).length;
    expect(entryGets()).toBe(0);

    await tick(1000);
    expect(screen.getByTestId("run-elapsed")).toHaveTextContent("11 s");

    await tick(POLL_MS - 1000);
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "25");
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuetext", "25 of 40 (63%)");

    await tick(POLL_MS);
    expect(screen.queryByRole("progressbar")).toBeNull();
    expect(screen.getByTestId("run-status")).toHaveTextContent("succeeded");
    expect(screen.getByTestId("run-elapsed")).toHaveTextContent("30.0 s");
    const runGets = () => calls.filter((c) => c.method === "GET" && /\/api\/runs\/[^/]+$/.test(c.url.split("?")[0])).length;
    expect(runGets()).toBe(3);
    expect(screen.getAllByTestId("entry-row")).toHaveLength(1);
    expect(entryGets()).toBe(1);

    // Finished: no more polling, however long the page stays open.
    await tick(10 * POLL_MS);
    expect(runGets()).toBe(3);
    expect(entryGets()).toBe(1);
  });

  it("shows an indeterminate bar before the run is planned, and says when it is queued", async () => {
    mockFetch({
      "GET /api/runs/{id}": { body: run({ status: "queued", started_at: undefined, finished_at: undefined, duration_ms: 0 }) },
      "GET /api/runs/{id}/entries": { body: { items: [], total: 0, next_cursor: "" } },
      "GET /api/profiles": { body: profiles },
      "GET /api/connectors": { body: connectors },
    });
    renderWithProviders(<RunPage runId={ID} />);
    const bar = await screen.findByRole("progressbar");
    expect(bar).not.toHaveAttribute("aria-valuenow");
    expect(bar).toHaveAttribute("aria-valuetext", "Queued: waiting for the reconcile function");
    expect(screen.queryByTestId("retry-failed")).toBeNull();
  });

  it("says when a backfill continues across invocations, and how far it is", async () => {
    const progress = { phase: "writing" as const, done: 4000, total: 100000, updated_at: "2026-03-02T10:00:10Z" };
    mockFetch({
      "GET /api/runs/{id}": { body: run({ mode: "range", status: "running", finished_at: undefined, duration_ms: 0, progress: { ...progress, invocations: 3, after_ticket: 812 } }) },
      "GET /api/runs/{id}/entries": { body: { items: [], total: 0, next_cursor: "" } },
      "GET /api/profiles": { body: profiles },
      "GET /api/connectors": { body: connectors },
    });
    renderWithProviders(<RunPage runId={ID} />);
    expect(await screen.findByTestId("run-continued")).toHaveTextContent("continued 3 times in a new invocation, done up to ticket 812");
  });

  it("says nothing about continuing for a run in one invocation", async () => {
    mockFetch({
      "GET /api/runs/{id}": { body: run({ status: "running", finished_at: undefined, duration_ms: 0, progress: { phase: "writing", done: 1, total: 9, updated_at: "2026-03-02T10:00:10Z" } }) },
      "GET /api/runs/{id}/entries": { body: { items: [], total: 0, next_cursor: "" } },
      "GET /api/profiles": { body: profiles },
      "GET /api/connectors": { body: connectors },
    });
    renderWithProviders(<RunPage runId={ID} />);
    await screen.findByRole("progressbar");
    expect(screen.queryByTestId("run-continued")).toBeNull();
  });
});

describe("RunPage's Kimai write concurrency", () => {
  const trace = {
    pace: "adaptive" as const,
    bound: 32,
    min: 1,
    max: 16,
    final: 8,
    attempts: 900,
    drops: 3,
    points: [
      { at_ms: 0, limit: 1 },
      { at_ms: 40, limit: 2 },
      { at_ms: 90, limit: 16 },
      { at_ms: 2000, limit: 8 },
    ],
  };
  const page = (r: Run) => {
    mockFetch({
      "GET /api/runs/{id}": { body: r },
      "GET /api/runs/{id}/entries": { body: { items: [], total: 0, next_cursor: "" } },
      "GET /api/profiles": { body: profiles },
      "GET /api/connectors": { body: connectors },
    });
    renderWithProviders(<RunPage runId={ID} />);
  };

  it("tells an adaptive pace's course, with its chart", async () => {
    page(run({ concurrency: trace }));
    const view = await screen.findByTestId("run-concurrency");
    expect(view).toHaveTextContent("Adaptive pace, up to 32 Kimai writes at once: between 1 and 16, 8 at the end.");
    expect(view).toHaveTextContent("Kimai refused or dropped 3 of 903 requests for load (429, 502–504, timeouts); the pace slowed down.");
    expect(screen.getByRole("img", { name: "Kimai writes at once over the run: 1, 2, 16, 8" })).toBeInTheDocument();
  });

  it("tells a fixed pace without a chart", async () => {
    page(run({ concurrency: { ...trace, pace: "fixed", bound: 8, min: 8, max: 8, final: 8, drops: 0, points: [{ at_ms: 0, limit: 8 }] } }));
    const view = await screen.findByTestId("run-concurrency");
    expect(view).toHaveTextContent("Fixed pace: 8 Kimai writes at once.");
    expect(view).not.toHaveTextContent("refused");
    expect(screen.queryByTestId("limit-chart")).toBeNull();
  });

  it("says nothing for a run that wrote nothing", async () => {
    page(run({}));
    await screen.findByTestId("run-counts");
    expect(screen.queryByTestId("run-concurrency")).toBeNull();
  });
});

describe("RunPage of a finished run", () => {
  it("shows the header and opens on the failed entries, filterable by outcome and paged", async () => {
    const failed = entry(1, "failed", { class: "validation", reason: "Kimai refused the project: it is not visible. Make it visible in Kimai.", timesheet_id: undefined });
    const { calls } = mockFetch({
      "GET /api/runs/{id}": { body: run({ status: "partial", counts: { ...zeros, seen: 150, created: 120, conflicts: 2, errors: 1 } }) },
      "GET /api/runs/{id}/entries": (c) => {
        const q = query(c);
        if (q.get("outcome") === "failed") return { body: { items: [failed], total: 1, next_cursor: "" } };
        if (q.get("outcome") === "conflict")
          return { body: { items: [entry(2, "conflict", { class: "edited_in_kimai", reason: "Edited in Kimai.", timesheet_id: 55 })], total: 2, next_cursor: "" } };
        if (q.get("cursor") === "c2") return { body: { items: [entry(200, "created")], total: 101, next_cursor: "" } };
        return { body: { items: Array.from({ length: 100 }, (_, i) => entry(i + 10, "created", { timesheet_id: 500 + i })), total: 101, next_cursor: "c2" } };
      },
      "GET /api/profiles": { body: profiles },
      "GET /api/connectors": { body: connectors },
    });
    renderWithProviders(<RunPage runId={ID} />);
    const table = await screen.findByTestId("entries-table");
    expect(screen.getByRole("heading", { level: 2, name: `Run ${ID}` })).toBeInTheDocument();
    const page = screen.getByTestId("run-page");
    expect(page).toHaveTextContent("Support");
    expect(page).toHaveTextContent("manual");
    expect(page).toHaveTextContent("admin");
    expect(screen.getByTestId("run-status")).toHaveTextContent("partial");
    // failures first
    expect(screen.getByRole("button", { name: "Failed (1)" })).toHaveAttribute("aria-pressed", "true");
    const rows = within(table).getAllByTestId("entry-row");
    expect(rows).toHaveLength(1);
    expect(rows[0]).toHaveTextContent("#31001");
    expect(rows[0]).toHaveTextContent("validation");
    expect(rows[0]).toHaveTextContent("Make it visible in Kimai.");
    expect(rows[0]).toHaveTextContent("Acme / Support / Remote");
    expect(rows[0]).toHaveTextContent("0.5 h");
    expect(within(rows[0]).getByRole("link", { name: "#31001" })).toHaveAttribute("href", "https://zammad.example.com/#ticket/zoom/71");
    expect(query(calls.find((c) => c.url.includes("/entries"))!).get("outcome")).toBe("failed");

    await userEvent.click(screen.getByRole("button", { name: "Conflicts (2)" }));
    expect(await screen.findByText("Edited in Kimai.")).toBeInTheDocument();
    expect(within(screen.getByTestId("entries-table")).getByText("#55")).toBeInTheDocument();

    await userEvent.click(screen.getByRole("button", { name: "All changes" }));
    await screen.findByText(/Showing 100 of 101/);
    expect(calls.filter((c) => c.url.includes("/entries")).every((c) => query(c).get("limit") === "100")).toBe(true);
    await userEvent.click(screen.getByRole("button", { name: "Load more" }));
    await screen.findByText(/Showing 101 of 101/);
    const last = calls.filter((c) => c.url.includes("/entries")).at(-1)!;
    expect(query(last).get("cursor")).toBe("c2");
    expect(query(last).get("outcome")).toBeNull();
    expect(screen.queryByRole("button", { name: "Load more" })).toBeNull();
  });

  it("retries the failed entries: POST, a toast, then the new run's page", async () => {
    const pushes: string[] = [];
    const onPop = () => pushes.push(location.pathname);
    window.addEventListener("popstate", onPop);
    const { calls } = mockFetch({
      "GET /api/runs/{id}": { body: run({ status: "partial", counts: { ...zeros, seen: 3, created: 2, errors: 1 } }) },
      "GET /api/runs/{id}/entries": { body: { items: [entry(1, "failed", { class: "upstream" })], total: 1, next_cursor: "" } },
      "POST /api/runs/{id}/retry": { status: 202, body: { id: "01NEWRUN0000000000000000AA", status: "queued" } },
      "GET /api/profiles": { body: profiles },
      "GET /api/connectors": { body: connectors },
    });
    renderWithProviders(<RunPage runId={ID} />);
    const btn = await screen.findByRole("button", { name: "Retry failed entries (1)" });
    await userEvent.click(btn);
    expect(await screen.findByText(/Retry of 1 failed entry queued as run 01NEWRUN0000000000000000AA/)).toBeInTheDocument();
    expect(calls.some((c) => c.method === "POST" && c.url.endsWith(`/api/runs/${ID}/retry`))).toBe(true);
    expect(location.pathname).toBe("/runs/01NEWRUN0000000000000000AA");
    expect(pushes).toEqual(["/runs/01NEWRUN0000000000000000AA"]);
    window.removeEventListener("popstate", onPop);
    history.replaceState({}, "", "/");
  });

  it("starts afresh when the page moves to another run", async () => {
    const runs: Record<string, Run> = {
      [ID]: run({ status: "partial", counts: { ...zeros, errors: 1 } }),
      other: run({ id: "other", counts: { ...zeros, created: 2 } }),
    };
    mockFetch({
      "GET /api/runs/{id}": (c) => ({ body: runs[c.url.split("/").pop()!] }),
      "GET /api/runs/{id}/entries": { body: { items: [entry(1, "created")], total: 1, next_cursor: "" } },
      "GET /api/profiles": { body: profiles },
      "GET /api/connectors": { body: connectors },
    });
    function Switch() {
      const [id, setId] = useState(ID);
      return (
        <>
          <button type="button" onClick={() => setId("other")}>
            next run
          </button>
          <RunPage runId={id} />
        </>
      );
    }
    renderWithProviders(<Switch />);
    expect(await screen.findByRole("button", { name: "Failed (1)" })).toHaveAttribute("aria-pressed", "true");
    await userEvent.click(screen.getByRole("button", { name: "next run" }));
    expect(await screen.findByRole("heading", { level: 2, name: "Run other" })).toBeInTheDocument();
    expect(await screen.findByRole("button", { name: "All changes" })).toHaveAttribute("aria-pressed", "true");
    expect(screen.queryByRole("button", { name: /Failed/ })).toBeNull();
  });

  it("says why a retry was refused (409) and stays", async () => {
    mockFetch({
      "GET /api/runs/{id}": { body: run({ status: "partial", counts: { ...zeros, errors: 1 } }) },
      "GET /api/runs/{id}/entries": { body: { items: [], total: 0, next_cursor: "" } },
      "POST /api/runs/{id}/retry": { status: 409, body: { error: { code: "conflict", message: "This run has no failed entries left to retry.", fields: {} } } },
      "GET /api/profiles": { body: profiles },
      "GET /api/connectors": { body: connectors },
    });
    renderWithProviders(<RunPage runId={ID} />);
    await userEvent.click(await screen.findByRole("button", { name: "Retry failed entries (1)" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("This run has no failed entries left to retry.");
    expect(location.pathname).toBe("/");
  });

  it("offers no retry without failures, and links the run it retries", async () => {
    mockFetch({
      "GET /api/runs/{id}": { body: run({ retry_of: "01OLDRUN0000000000000000AA", counts: { ...zeros, created: 1 } }) },
      "GET /api/runs/{id}/entries": { body: { items: [entry(1, "created")], total: 1, next_cursor: "" } },
      "GET /api/profiles": { body: profiles },
      "GET /api/connectors": { body: connectors },
    });
    renderWithProviders(<RunPage runId={ID} />);
    const link = await screen.findByRole("link", { name: "run 01OLDRUN0000000000000000AA" });
    expect(link).toHaveAttribute("href", "/runs/01OLDRUN0000000000000000AA");
    await screen.findByTestId("entries-table");
    expect(screen.queryByTestId("retry-failed")).toBeNull();
    expect(screen.getByRole("button", { name: "All changes" })).toHaveAttribute("aria-pressed", "true");
  });

  it("shows a preview's plan counts and a note instead of entries", async () => {
    const { calls } = mockFetch({
      "GET /api/runs/{id}": {
        body: run({
          dry_run: true,
          plan: [
            { action: "create", entry_id: 1, ticket_id: 2 },
            { action: "create", entry_id: 2, ticket_id: 2 },
            { action: "conflict", entry_id: 3, ticket_id: 2 },
          ],
        }),
      },
      "GET /api/profiles": { body: profiles },
      "GET /api/connectors": { body: connectors },
    });
    renderWithProviders(<RunPage runId={ID} />);
    const pv = await screen.findByTestId("run-preview");
    expect(pv).toHaveTextContent("nothing was written to Kimai");
    expect(pv).toHaveTextContent("2 creates, 0 updates, 0 deletes, 1 conflicts");
    expect(within(pv).getByRole("button", { name: /Download the plan as CSV \(3 rows\)/ })).toBeInTheDocument();
    expect(calls.some((c) => c.url.includes("/entries"))).toBe(false);
  });

  it("says so when the run does not exist", async () => {
    mockFetch({
      "GET /api/runs/{id}": { status: 404, body: { error: { code: "not_found", message: "run not found", fields: {} } } },
      "GET /api/profiles": { body: profiles },
    });
    renderWithProviders(<RunPage runId="nope" />);
    expect(await screen.findByText(/There is no run nope/)).toHaveAttribute("role", "alert");
  });
});

describe("helpers", () => {
  it("counts outcomes from a run's counts and picks the problems first", () => {
    const c = { ...zeros, created: 3, errors: 2, conflicts: 1 };
    expect(countOf(c, "failed")).toBe(2);
    expect(countOf(c, "conflict")).toBe(1);
    expect(countOf(c, "created")).toBe(3);
    expect(initialFilter(run({ counts: c }))).toBe("failed");
    expect(initialFilter(run({ counts: { ...c, errors: 0 } }))).toBe("conflict");
    expect(initialFilter(run())).toBe("all");
  });
});
