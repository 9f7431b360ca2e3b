import { beforeEach, describe, expect, it, vi } from "vitest";
import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { Run } from "../api/client";
import { mockFetch, renderWithProviders, signIn, type Call } from "../test/helpers";
import { Runs, runsCsv, runsQuery } from "./Runs";
import { addDays, dayStart, localDay } from "./pageUtil";

const zeros = { seen: 0, created: 0, updated: 0, deleted: 0, unchanged: 0, skipped: 0, conflicts: 0, errors: 0 };
const run = (i: number, over: Partial<Run> = {}): Run => ({
  id: `01RUN${String(i).padStart(21, "0")}`,
  profile_id: "p1",
  trigger: "manual",
  mode: "full",
  dry_run: false,
  status: "succeeded",
  queued_at: `2026-03-02T10:${String(i % 60).padStart(2, "0")}:00Z`,
  duration_ms: 1200,
  counts: { ...zeros, seen: i, created: i },
  ...over,
});

const profiles = { items: [{ id: "p1", name: "Support" }, { id: "p2", name: "=Evil" }] };
const qs = (c: Call) => new URL(c.url, "http://x").searchParams;
const listCalls = (calls: Call[]) => calls.filter((c) => c.url.split("?")[0] === "/api/runs");

function readBlob(b: Blob): Promise<string> {
  return new Promise((ok) => {
    const r = new FileReader();
    r.onload = () => ok(String(r.result));
    r.readAsText(b);
  });
}

beforeEach(() => signIn());

describe("Runs list", () => {
  it("links each run to its page and shows what a retry retries", async () => {
    mockFetch({
      "GET /api/profiles": { body: profiles },
      "GET /api/runs": { body: { items: [run(1), run(2, { retry_of: run(1).id, status: "running", progress: { phase: "writing", done: 3, total: 9, updated_at: "2026-03-02T10:02:05Z" } })], next_cursor: "" } },
    });
    renderWithProviders(<Runs />);
    const links = await screen.findAllByTestId("run-link");
    expect(links[0]).toHaveAttribute("href", `/runs/${run(1).id}`);
    expect(links[1]).toHaveAttribute("href", `/runs/${run(2).id}`);
    const rows = screen.getAllByTestId("run-row");
    expect(within(rows[1]).getByRole("link", { name: `run ${run(1).id}` })).toHaveAttribute("href", `/runs/${run(1).id}`);
    expect(rows[1]).toHaveTextContent("3 / 9");
  });

  it("filters by profile and by the days queued, with quick ranges", async () => {
    const { calls } = mockFetch({
      "GET /api/profiles": { body: profiles },
      "GET /api/runs": { body: { items: [run(1)], next_cursor: "" } },
    });
    renderWithProviders(<Runs />);
    await screen.findAllByTestId("run-row");
    expect(qs(listCalls(calls)[0]).get("from")).toBeNull();

    await userEvent.click(screen.getByRole("button", { name: "Last 7 days" }));
    const today = localDay();
    await waitFor(() => expect(qs(listCalls(calls).at(-1)!).get("from")).toBe(dayStart(addDays(today, -6))));
    expect(qs(listCalls(calls).at(-1)!).get("to")).toBe(dayStart(addDays(today, 1)));
    expect(screen.getByRole("button", { name: "Last 7 days" })).toHaveAttribute("aria-pressed", "true");
    expect(screen.getByLabelText("From")).toHaveValue(addDays(today, -6));

    await userEvent.click(screen.getByRole("button", { name: "Today" }));
    await waitFor(() => expect(qs(listCalls(calls).at(-1)!).get("from")).toBe(dayStart(today)));

    fireEvent.change(screen.getByLabelText("From"), { target: { value: "2026-02-01" } });
    fireEvent.change(screen.getByLabelText("To"), { target: { value: "2026-02-28" } });
    await userEvent.selectOptions(screen.getByLabelText("Profile"), "p1");
    await waitFor(() => {
      const q = qs(listCalls(calls).at(-1)!);
      expect(q.get("profile_id")).toBe("p1");
      expect(q.get("from")).toBe(dayStart("2026-02-01"));
      expect(q.get("to")).toBe(dayStart("2026-03-01"));
    });
    expect(screen.getByRole("button", { name: "Last 7 days" })).toHaveAttribute("aria-pressed", "false");
    await userEvent.click(screen.getByRole("button", { name: "Any date" }));
    await waitFor(() => expect(qs(listCalls(calls).at(-1)!).get("from")).toBeNull());
  });

  it("refuses a range that ends before it starts, without asking the server", async () => {
    const { calls } = mockFetch({ "GET /api/profiles": { body: profiles }, "GET /api/runs": { body: { items: [run(1)], next_cursor: "" } } });
    renderWithProviders(<Runs />);
    await screen.findAllByTestId("run-row");
    const n = listCalls(calls).length;
    fireEvent.change(screen.getByLabelText("From"), { target: { value: "2026-03-10" } });
    fireEvent.change(screen.getByLabelText("To"), { target: { value: "2026-03-01" } });
    expect(await screen.findByText("The first day must not be after the last day.")).toHaveAttribute("role", "alert");
    expect(screen.getByLabelText("To")).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByTestId("runs-csv")).toBeDisabled();
    expect(listCalls(calls).filter((c) => qs(c).get("from") === dayStart("2026-03-10") && qs(c).get("to") !== null)).toHaveLength(0);
    expect(listCalls(calls).length).toBeLessThanOrEqual(n + 1); // at most the from-only query
  });

  it("says when no run matches the filters", async () => {
    mockFetch({ "GET /api/profiles": { body: profiles }, "GET /api/runs": { body: { items: [], next_cursor: "" } } });
    renderWithProviders(<Runs />);
    await userEvent.click(await screen.findByRole("button", { name: "Today" }));
    expect(await screen.findByText(/No runs match these filters/)).toBeInTheDocument();
  });

  it("downloads every run of the filter as CSV, following all pages", async () => {
    const all = Array.from({ length: 450 }, (_, i) => run(i + 1));
    const { calls } = mockFetch({
      "GET /api/profiles": { body: profiles },
      "GET /api/runs": (c) => {
        const q = qs(c);
        const limit = Number(q.get("limit"));
        const start = Number(q.get("cursor") || 0);
        const items = all.slice(start, start + limit);
        return { body: { items, next_cursor: start + limit < all.length ? String(start + limit) : "" } };
      },
    });
    const blobs: Blob[] = [];
    Object.assign(URL, { createObjectURL: (b: Blob) => (blobs.push(b), "blob:runs"), revokeObjectURL: () => {} });
    let name = "";
    vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
      name = this.download;
    });
    renderWithProviders(<Runs />);
    await screen.findAllByTestId("run-row");
    await userEvent.click(screen.getByRole("button", { name: "Last 30 days" }));
    await waitFor(() => expect(qs(listCalls(calls).at(-1)!).get("from")).not.toBeNull());
    await userEvent.click(screen.getByTestId("runs-csv"));
    await waitFor(() => expect(blobs).toHaveLength(1));
    const pages = listCalls(calls).filter((c) => qs(c).get("limit") === "200");
    expect(pages.map((c) => qs(c).get("cursor"))).toEqual([null, "200", "400"]);
    expect(pages.every((c) => qs(c).get("from") !== null && qs(c).get("to") !== null)).toBe(true);
    const lines = (await readBlob(blobs[0])).trim().split("\r\n");
    expect(lines).toHaveLength(451);
    expect(lines[0]).toMatch(/^id,queued_at,started_at,finished_at,profile,profile_id,mode,trigger,dry_run,status/);
    expect(lines[1]).toContain(`${run(1).id},2026-03-02T10:01:00Z,,,Support,p1,full,manual,false,succeeded`);
    expect(name).toMatch(/^timebridge-runs-\d{4}-\d{2}-\d{2}_to_\d{4}-\d{2}-\d{2}\.csv$/);
    expect(await screen.findByText("Downloaded 450 runs as CSV.")).toBeInTheDocument();
  });
});

describe("runs helpers", () => {
  it("turns days into the instants that bound them", () => {
    expect(runsQuery({ profileId: "", from: "", to: "" })).toEqual({});
    expect(runsQuery({ profileId: "p", from: "2026-03-01", to: "2026-03-31" })).toEqual({
      profile_id: "p",
      from: dayStart("2026-03-01"),
      to: dayStart("2026-04-01"),
    });
    expect(runsQuery({ profileId: "", from: "2026-02-30", to: "" })).toEqual({});
  });
  it("defuses formulas in profile names", () => {
    const csv = runsCsv([run(1, { profile_id: "p2" })], () => "=Evil");
    expect(csv.split("\r\n")[1]).toContain(`"'=Evil"`);
  });
});
