import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { Report, ReportGroup } from "../api/client";
import { mockFetch, renderWithProviders, signIn, type Call } from "../test/helpers";
import { Reports, paramsFromSearch, periodOf, periodProblem, reasonsText, searchOf } from "./Reports";
import { lastMonth, thisMonth } from "./pageUtil";
import { render } from "@testing-library/react";
import { ReportChart } from "./ReportChart";

const profiles = {
  items: [
    { id: "p1", name: "Support", zammad_connector_id: "cz", kimai_connector_id: "ck" },
    { id: "p2", name: "Projects", zammad_connector_id: "cz", kimai_connector_id: "ck" },
  ],
};
const connectors = { items: [{ id: "cz", kind: "zammad", name: "Z", base_url: "https://zammad.example.com" }] };

const group = (over: Partial<ReportGroup>): ReportGroup => ({
  key: "4",
  name: "Acme",
  entries: 12,
  zammad_seconds: 36000,
  written_seconds: 36000,
  kimai_seconds: 25200,
  difference_seconds: 10800,
  billed_seconds: 7200,
  reasons: [
    { reason: "open_conflict", entries: 2, seconds: 9000 },
    { reason: "edited_in_kimai", entries: 1, seconds: 1800 },
  ],
  ...over,
});

function report(q: URLSearchParams): Report {
  const by = q.get("group_by") ?? "customer";
  const groups =
    by === "ticket"
      ? [group({ key: "71", name: "#31001 Printer on fire", ticket_id: 71, billed: true, reasons: [] }), group({ key: "72", name: "#31002 VPN", ticket_id: 72, billed: false, reasons: [] })]
      : [group({}), group({ key: "", name: "", entries: 1, zammad_seconds: 900, written_seconds: 0, kimai_seconds: 0, difference_seconds: 900, billed_seconds: 0, reasons: [{ reason: "pending", entries: 1, seconds: 900 }] })];
  return {
    profile_id: "p1",
    from: q.get("from") ?? "2026-03-01",
    to: q.get("to") ?? "2026-03-04",
    group_by: by === "ticket" ? "ticket" : "customer",
    observed_at: "2026-03-04T09:00:00Z",
    totals: group({ key: "", name: "", entries: 13, zammad_seconds: 36900, difference_seconds: 11700 }),
    groups,
    days: [
      { day: "2026-03-01", zammad_seconds: 0, kimai_seconds: 0 },
      { day: "2026-03-02", zammad_seconds: 18000, kimai_seconds: 14400 },
      { day: "2026-03-03", zammad_seconds: 0, kimai_seconds: 0 },
      { day: "2026-03-04", zammad_seconds: 18900, kimai_seconds: 10800 },
    ],
  };
}

const qs = (c: Call) => new URL(c.url, "http://x").searchParams;
const reportCalls = (calls: Call[]) => calls.filter((c) => c.url.includes("/report"));

function routes() {
  return mockFetch({
    "GET /api/profiles": { body: profiles },
    "GET /api/connectors": { body: connectors },
    "GET /api/profiles/{id}/report": (c) => ({ body: report(qs(c)) }),
  });
}

beforeEach(() => {
  signIn();
  history.replaceState({}, "", "/reports");
});
afterEach(() => history.replaceState({}, "", "/"));

describe("Reports", () => {
  it("defaults to this month by customer for the first profile, totals first, and puts the choices in the address", async () => {
    const { calls } = routes();
    renderWithProviders(<Reports />);
    const totals = await screen.findByTestId("report-totals");
    const m = thisMonth();
    const first = qs(reportCalls(calls)[0]);
    expect(reportCalls(calls)[0].url.split("?")[0]).toBe("/api/profiles/p1/report");
    expect(Object.fromEntries(first)).toEqual({ from: m.from, to: m.to, group_by: "customer", format: "json" });
    expect(location.pathname + location.search).toBe(`/reports?profile=p1&from=${m.from}&to=${m.to}&group_by=customer`);
    // totals: hours with one decimal, minutes in the title
    const zammad = within(totals).getByTestId("total-zammad");
    expect(zammad).toHaveTextContent("10.3 h");
    expect(zammad).toHaveAttribute("title", "615 min");
    expect(within(totals).getByTestId("total-difference")).toHaveTextContent("3.3 h");
    expect(within(totals).getByTestId("total-billed")).toHaveTextContent("2.0 h");
    expect(screen.getByTestId("report-observed")).toHaveTextContent(/Kimai as of/);
    // the order: totals, chart, groups
    const order = [...screen.getByTestId("report").querySelectorAll("[data-testid]")].map((e) => e.getAttribute("data-testid"));
    expect(order.indexOf("report-totals")).toBeLessThan(order.indexOf("report-chart"));
    expect(order.indexOf("report-chart")).toBeLessThan(order.indexOf("report-table"));
    // groups with their reasons; an entry without a customer says so
    const rows = within(screen.getByTestId("report-table")).getAllByTestId("report-row");
    expect(rows).toHaveLength(2);
    expect(rows[0]).toHaveTextContent("Acme");
    expect(within(rows[0]).getByText("2.5 h open conflict, 0.5 h edited in Kimai")).toBeInTheDocument();
    expect(rows[0].querySelector('[data-col="kimai"] [data-seconds]')).toHaveAttribute("data-seconds", "25200");
    expect(rows[1]).toHaveTextContent("No customer (unmapped)");
    expect(rows[1]).toHaveTextContent("0.3 h not synced yet");
    expect(screen.getByTestId("report-total-row")).toHaveTextContent("13");
  });

  it("draws Zammad against Kimai per day with a table alternative", async () => {
    routes();
    renderWithProviders(<Reports />);
    const chart = await screen.findByTestId("report-chart");
    expect(chart.querySelectorAll("g.day")).toHaveLength(4);
    const day = chart.querySelector('g[data-day="2026-03-04"]')!;
    expect(day.querySelector("title")?.textContent).toMatch(/Zammad 5\.3 h, Kimai 3\.0 h, difference 2\.3 h/);
    const z = Number(day.querySelector(".bar-zammad")!.getAttribute("height"));
    const k = Number(day.querySelector(".bar-kimai")!.getAttribute("height"));
    expect(z).toBeGreaterThan(k);
    expect(Number(chart.querySelector('g[data-day="2026-03-01"] .bar-zammad')!.getAttribute("height"))).toBe(0);
    await userEvent.click(within(chart).getByText("Show as a table"));
    const rows = within(screen.getByTestId("report-days-table")).getAllByRole("row");
    expect(rows).toHaveLength(3); // header + the 2 days with time
  });

  it("reads its choices from the address and keeps them there as they change", async () => {
    history.replaceState({}, "", "/reports?profile=p2&from=2026-01-05&to=2026-01-20&group_by=agent");
    const { calls } = routes();
    renderWithProviders(<Reports />);
    await screen.findByTestId("report-table");
    const entries = history.length;
    expect(reportCalls(calls)[0].url.split("?")[0]).toBe("/api/profiles/p2/report");
    expect(Object.fromEntries(qs(reportCalls(calls)[0]))).toMatchObject({ from: "2026-01-05", to: "2026-01-20", group_by: "agent" });
    expect(screen.getByLabelText("Period")).toHaveValue("custom");
    expect(screen.getByLabelText("From")).toHaveValue("2026-01-05");
    expect(screen.getByLabelText("Group by")).toHaveValue("agent");

    await userEvent.selectOptions(screen.getByLabelText("Group by"), "ticket");
    await waitFor(() => expect(location.search).toBe("?profile=p2&from=2026-01-05&to=2026-01-20&group_by=ticket"));
    const rows = await screen.findAllByTestId("report-row");
    expect(within(rows[0]).getByRole("link", { name: "#31001 Printer on fire" })).toHaveAttribute("href", "https://zammad.example.com/#ticket/zoom/71");
    expect(within(rows[0]).getByText("billed")).toBeInTheDocument();
    expect(within(rows[1]).queryByText("billed")).toBeNull();

    await userEvent.selectOptions(screen.getByLabelText("Period"), "last-month");
    const l = lastMonth();
    await waitFor(() => expect(location.search).toBe(`?profile=p2&from=${l.from}&to=${l.to}&group_by=ticket`));
    await userEvent.selectOptions(screen.getByLabelText("Profile"), "p1");
    await waitFor(() => expect(location.search).toBe(`?profile=p1&from=${l.from}&to=${l.to}&group_by=ticket`));
    await waitFor(() => expect(reportCalls(calls).at(-1)!.url.split("?")[0]).toBe("/api/profiles/p1/report"));
    // replaceState: no history entry per choice
    expect(history.length).toBe(entries);
  });

  it("follows back and forward to another report's address", async () => {
    const { calls } = routes();
    renderWithProviders(<Reports />);
    await screen.findByTestId("report-table");
    history.pushState({}, "", "/reports?profile=p2&from=2026-02-01&to=2026-02-10&group_by=project");
    window.dispatchEvent(new PopStateEvent("popstate"));
    await waitFor(() => expect(Object.fromEntries(qs(reportCalls(calls).at(-1)!))).toMatchObject({ from: "2026-02-01", to: "2026-02-10", group_by: "project" }));
    expect(reportCalls(calls).at(-1)!.url.split("?")[0]).toBe("/api/profiles/p2/report");
    expect(screen.getByLabelText("Period")).toHaveValue("custom");
    expect(screen.getByLabelText("Group by")).toHaveValue("project");
  });

  it("refuses a custom period that ends before it starts, without asking the server", async () => {
    const { calls } = routes();
    renderWithProviders(<Reports />);
    await screen.findByTestId("report-table");
    await userEvent.selectOptions(screen.getByLabelText("Period"), "custom");
    const n = reportCalls(calls).length;
    const to = screen.getByLabelText("To");
    await userEvent.clear(to);
    await userEvent.type(to, "2000-01-01");
    expect(await screen.findByText("The first day must not be after the last day.")).toHaveAttribute("role", "alert");
    expect(to).toHaveAttribute("aria-invalid", "true");
    expect(screen.queryByTestId("report")).toBeNull();
    expect(reportCalls(calls).length).toBe(n);
  });

  it("downloads the server's CSV with the session's token", async () => {
    routes();
    renderWithProviders(<Reports />);
    await screen.findByTestId("report-table");
    const fetchMock = vi.fn(async () => new Response("group,zammad_minutes\r\nAcme,600\r\n", {
      status: 200,
      headers: { "Content-Type": "text/csv", "Content-Disposition": 'attachment; filename="report-p1.csv"' },
    }));
    vi.stubGlobal("fetch", fetchMock);
    const blobs: Blob[] = [];
    const created = vi.fn((b: Blob) => {
      blobs.push(b);
      return "blob:report";
    });
    Object.assign(URL, { createObjectURL: created, revokeObjectURL: () => {} });
    let downloaded = "";
    const click = vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
      downloaded = this.download;
    });
    await userEvent.click(screen.getByTestId("report-csv"));
    await waitFor(() => expect(click).toHaveBeenCalled());
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toMatch(/^\/api\/profiles\/p1\/report\?.*format=csv/);
    expect((init.headers as Record<string, string>).Authorization).toBe("Bearer tok-123");
    expect(downloaded).toBe("report-p1.csv");
    const text = await new Promise<string>((ok) => {
      const r = new FileReader();
      r.onload = () => ok(String(r.result));
      r.readAsText(blobs[0]);
    });
    expect(text).toBe("group,zammad_minutes\r\nAcme,600\r\n");
  });

  it("says what to do without profiles", async () => {
    mockFetch({ "GET /api/profiles": { body: { items: [] } }, "GET /api/connectors": { body: { items: [] } } });
    renderWithProviders(<Reports />);
    expect(await screen.findByText(/No profiles yet/)).toBeInTheDocument();
  });
});

describe("ReportChart", () => {
  it("says what to do when nothing was booked in the period", () => {
    render(<ReportChart days={[{ day: "2026-03-01", zammad_seconds: 0, kimai_seconds: 0 }, { day: "2026-03-02", zammad_seconds: 0, kimai_seconds: 0 }]} />);
    expect(screen.queryByTestId("report-chart")).toBeNull();
    expect(screen.getByTestId("report-chart-empty")).toHaveTextContent(/Choose another period, or sync the profile/);
  });
  it("spreads a short period over the chart's width, with its days' labels apart", () => {
    render(<ReportChart days={["01", "02", "03", "04"].map((d) => ({ day: `2026-12-${d}`, zammad_seconds: 3600, kimai_seconds: 1800 }))} />);
    const svg = screen.getByTestId("report-chart").querySelector("svg")!;
    expect(Number(svg.getAttribute("viewBox")!.split(" ")[2])).toBeGreaterThanOrEqual(800);
    const xs = [...svg.querySelectorAll("text.axis-label")].filter((t) => /Dec/.test(t.textContent ?? "")).map((t) => Number(t.getAttribute("x")));
    expect(xs).toHaveLength(3);
    expect(Math.min(xs[1] - xs[0], xs[2] - xs[1])).toBeGreaterThan(100);
  });

  it("shows Kimai time that Zammad no longer has", () => {
    render(<ReportChart days={[{ day: "2026-03-01", zammad_seconds: 0, kimai_seconds: 3600 }]} />);
    expect(screen.getByTestId("report-chart")).toHaveTextContent("Zammad 0.0 h, Kimai 1.0 h");
  });
});

describe("report helpers", () => {
  const now = new Date(2026, 2, 15, 10); // 15 March 2026, local
  it("reads and writes the address", () => {
    expect(paramsFromSearch("", now)).toEqual({ profile: "", from: "2026-03-01", to: "2026-03-15", group_by: "customer" });
    expect(paramsFromSearch("?profile=x&from=2026-02-30&to=2026-03-02&group_by=nope", now)).toEqual({
      profile: "x",
      from: "2026-03-01",
      to: "2026-03-15",
      group_by: "customer",
    });
    const p = { profile: "p 1", from: "2026-02-01", to: "2026-02-28", group_by: "ticket" as const };
    expect(searchOf(p)).toBe("?profile=p+1&from=2026-02-01&to=2026-02-28&group_by=ticket");
    expect(paramsFromSearch(searchOf(p), now)).toEqual(p);
  });
  it("names the period", () => {
    expect(periodOf({ from: "2026-03-01", to: "2026-03-15" }, now)).toBe("this-month");
    expect(periodOf({ from: "2026-02-01", to: "2026-02-28" }, now)).toBe("last-month");
    expect(periodOf({ from: "2026-02-01", to: "2026-02-27" }, now)).toBe("custom");
  });
  it("checks a custom period", () => {
    expect(periodProblem("2026-01-01", "2026-12-31")).toBeNull();
    expect(periodProblem("2026-01-01", "2027-01-01")).toBeNull(); // 366 days
    expect(periodProblem("2026-01-01", "2027-01-02")).toMatch(/at most 366 days/);
    expect(periodProblem("2026-01-02", "2026-01-01")).toMatch(/after/);
    expect(periodProblem("", "2026-01-01")).toMatch(/both days/);
  });
  it("says why Zammad and Kimai differ", () => {
    expect(reasonsText([{ reason: "open_conflict", entries: 2, seconds: 9000 }, { reason: "deleted_in_kimai", entries: 1, seconds: 1800 }])).toBe(
      "2.5 h open conflict, 0.5 h deleted in Kimai",
    );
  });
});
