// The client methods of the run page, the runs list and the Reports page.
import { describe, expect, it, vi } from "vitest";
import { ApiError, SESSION_EXPIRED_MESSAGE, api, loadSession, onSessionExpired } from "./client";
import { mockFetch, signIn } from "../test/helpers";

const qs = (url: string) => Object.fromEntries(new URL(url, "http://x").searchParams);

describe("API client: runs, entries, retry, report", () => {
  it("lists runs by date", async () => {
    signIn();
    const { calls } = mockFetch({ "GET /api/runs": { body: { items: [], next_cursor: "" } } });
    await api.listRuns({ profile_id: "p1", from: "2026-03-01", to: "2026-03-31T22:00:00Z", limit: 25 });
    expect(qs(calls[0].url)).toEqual({ profile_id: "p1", from: "2026-03-01", to: "2026-03-31T22:00:00Z", limit: "25" });
  });

  it("follows every page of runs for a filter, at the largest page size", async () => {
    signIn();
    const { calls } = mockFetch({
      "GET /api/runs": (c) => {
        const cursor = qs(c.url).cursor;
        return cursor === "b"
          ? { body: { items: [{ id: "r2" }, { id: "r3" }], next_cursor: "" } }
          : { body: { items: [{ id: "r1" }, { id: "r2" }], next_cursor: "b" } };
      },
    });
    const all = await api.listAllRuns({ from: "2026-03-01" });
    expect(all.items.map((r) => r.id)).toEqual(["r1", "r2", "r3"]);
    expect(all.truncated).toBe(false);
    expect(calls.map((c) => qs(c.url))).toEqual([
      { from: "2026-03-01", limit: "200" },
      { from: "2026-03-01", limit: "200", cursor: "b" },
    ]);
  });

  it("stops after maxPages and says the list is truncated", async () => {
    signIn();
    let n = 0;
    mockFetch({ "GET /api/runs": () => ({ body: { items: [{ id: `r${n}` }], next_cursor: `c${++n}` } }) });
    const all = await api.listAllRuns({}, 3);
    expect(all.items).toHaveLength(3);
    expect(all.truncated).toBe(true);
  });

  it("reads a run's entry outcomes with filter, page size and cursor", async () => {
    signIn();
    const { calls } = mockFetch({
      "GET /api/runs/{id}/entries": { body: { items: [{ entry_id: 1, ticket_id: 2, outcome: "failed" }], total: 1, next_cursor: "" } },
    });
    const page = await api.runEntries("r 1", { outcome: "failed", limit: 100, cursor: "abc" });
    expect(page.total).toBe(1);
    expect(calls[0].url.split("?")[0]).toBe("/api/runs/r%201/entries");
    expect(qs(calls[0].url)).toEqual({ outcome: "failed", limit: "100", cursor: "abc" });
  });

  it("retries a run's failed entries and reports a 409 as a conflict", async () => {
    signIn();
    const { calls } = mockFetch({
      "POST /api/runs/{id}/retry": (c) =>
        c.url.includes("busy")
          ? { status: 409, body: { error: { code: "conflict", message: "The run is still running.", fields: {} } } }
          : { status: 202, body: { id: "new", status: "queued" } },
    });
    await expect(api.retryRun("r1")).resolves.toEqual({ id: "new", status: "queued" });
    expect(calls[0]).toMatchObject({ method: "POST", url: "/api/runs/r1/retry" });
    const err = await api.retryRun("busy").catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 409, code: "conflict", message: "The run is still running." });
  });

  it("asks for the report as JSON", async () => {
    signIn();
    const { calls } = mockFetch({ "GET /api/profiles/{id}/report": { body: { profile_id: "p1" } } });
    await api.report("p1", { from: "2026-03-01", to: "2026-03-31", group_by: "ticket" });
    expect(calls[0].url.split("?")[0]).toBe("/api/profiles/p1/report");
    expect(qs(calls[0].url)).toEqual({ from: "2026-03-01", to: "2026-03-31", group_by: "ticket", format: "json" });
  });

  it("fetches the report's CSV as text with the session's token, named by the server", async () => {
    signIn();
    const fetchMock = vi.fn(async (_url: string, _init?: RequestInit) =>
      new Response("name,zammad_minutes\r\nAcme,60\r\n", {
        status: 200,
        headers: { "Content-Type": "text/csv; charset=utf-8", "Content-Disposition": "attachment; filename*=UTF-8''timebridge%20report.csv" },
      }),
    );
    vi.stubGlobal("fetch", fetchMock);
    const f = await api.reportCsv("p1", { from: "2026-03-01", to: "2026-03-31", group_by: "customer" });
    expect(f).toEqual({ text: "name,zammad_minutes\r\nAcme,60\r\n", filename: "timebridge report.csv" });
    const [url, init] = fetchMock.mock.calls[0];
    expect(qs(url)).toEqual({ from: "2026-03-01", to: "2026-03-31", group_by: "customer", format: "csv" });
    const headers = init?.headers as Record<string, string>;
    expect(headers.Authorization).toBe("Bearer tok-123");
    expect(headers.Accept).toBe("text/csv");
  });

  it("names the CSV itself when the server does not", async () => {
    signIn();
    vi.stubGlobal("fetch", vi.fn(async () => new Response("a,b\r\n", { status: 200, headers: { "Content-Type": "text/csv" } })));
    const f = await api.reportCsv("p1", { from: "2026-03-01", to: "2026-03-31", group_by: "agent" });
    expect(f.filename).toBe("timebridge-report-agent-2026-03-01-2026-03-31.csv");
  });

  it("turns a failed CSV request into an ApiError, and a 401 into the end of the session", async () => {
    signIn();
    const expired = vi.fn();
    const off = onSessionExpired(expired);
    mockFetch({
      "GET /api/profiles/{id}/report": (c) =>
        c.url.includes("/p1/")
          ? { status: 400, body: { error: { code: "validation_failed", message: "The period is too long.", fields: { to: "at most 366 days" } } } }
          : { status: 401, body: { error: { code: "unauthorized", message: "Sign in again.", fields: {} } } },
    });
    const bad = await api.reportCsv("p1", {}).catch((e) => e);
    expect(bad).toMatchObject({ status: 400, code: "validation_failed", fields: { to: "at most 366 days" } });
    const gone = await api.reportCsv("p2", {}).catch((e) => e);
    expect(gone).toMatchObject({ status: 401 });
    expect(expired).toHaveBeenCalledWith(SESSION_EXPIRED_MESSAGE);
    expect(loadSession()).toBeNull();
    off();
  });
});
