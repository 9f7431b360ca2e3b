import { describe, expect, it, vi } from "vitest";
import { ApiError, SESSION_EXPIRED_MESSAGE, api, loadDeviceToken, loadSession, onSessionExpired, parseErrorEnvelope } from "./client";
import { queryLimits } from "./limits";
import { mockFetch, signIn } from "../test/helpers";

describe("API client", () => {
  it("sends the bearer token from session storage", async () => {
    signIn();
    const { calls } = mockFetch({ "GET /api/connectors": { body: { items: [] } } });
    await expect(api.listConnectors()).resolves.toEqual([]);
    expect(calls[0].headers.Authorization).toBe("Bearer tok-123");
  });

  it("sends no Authorization header without a session", async () => {
    const { calls } = mockFetch({ "GET /api/profiles": { body: { items: [] } } });
    await api.listProfiles();
    expect(calls[0].headers.Authorization).toBeUndefined();
  });

  it("stores the session on login", async () => {
    const { calls } = mockFetch({
      "POST /api/auth/login": { body: { token: "new-token", expires_at: new Date(Date.now() + 60_000).toISOString() } },
    });
    await api.login("admin", "pw");
    expect(calls[0].body).toEqual({ username: "admin", password: "pw" });
    expect(loadSession()?.token).toBe("new-token");
  });

  it("keeps the device token across sessions and sends it with the next login", async () => {
    localStorage.clear();
    const first = mockFetch({
      "POST /api/auth/login": { body: { token: "t1", expires_at: new Date(Date.now() + 60_000).toISOString(), device_token: "d1.abc" } },
    });
    await api.login("admin", "pw");
    expect(first.calls[0].body).toEqual({ username: "admin", password: "pw" });
    expect(loadDeviceToken()).toBe("d1.abc");
    sessionStorage.clear(); // the browser was closed: the session is gone, the device token is not
    const second = mockFetch({
      "POST /api/auth/login": { body: { token: "t2", expires_at: new Date(Date.now() + 60_000).toISOString(), device_token: "d1.def" } },
    });
    await api.login("admin", "pw");
    expect(second.calls[0].body).toEqual({ username: "admin", password: "pw", device_token: "d1.abc" });
    expect(loadDeviceToken()).toBe("d1.def");
    localStorage.clear();
  });

  it("parses the error envelope into a typed ApiError", async () => {
    signIn();
    mockFetch({
      "POST /api/connectors": {
        status: 400,
        body: { error: { code: "validation_failed", message: "The request has invalid fields.", fields: { base_url: "must be https" } } },
      },
    });
    const err = await api.createConnector({ kind: "zammad", name: "Z", base_url: "ftp://x" }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 400, code: "validation_failed", message: "The request has invalid fields.", fields: { base_url: "must be https" } });
  });

  it("tolerates a body that is not an envelope", () => {
    const e = parseErrorEnvelope(502, "<html>bad gateway</html>");
    expect(e.code).toBe("upstream_error");
    expect(e.fields).toEqual({});
    expect(e.message).toMatch(/502/);
  });

  it("expires the session on 401 and notifies listeners", async () => {
    signIn();
    mockFetch({ "GET /api/runs": { status: 401, body: { error: { code: "unauthorized", message: "The token has expired.", fields: {} } } } });
    const listener = vi.fn();
    const off = onSessionExpired(listener);
    const err = await api.listRuns().catch((e) => e);
    off();
    expect(err).toMatchObject({ status: 401, code: "unauthorized" });
    expect(listener).toHaveBeenCalledWith(SESSION_EXPIRED_MESSAGE);
    expect(loadSession()).toBeNull();
  });

  it("does not treat a wrong password as an expired session", async () => {
    mockFetch({ "POST /api/auth/login": { status: 401, body: { error: { code: "unauthorized", message: "Wrong username or password.", fields: {} } } } });
    const listener = vi.fn();
    const off = onSessionExpired(listener);
    await expect(api.login("admin", "nope")).rejects.toMatchObject({ message: "Wrong username or password." });
    off();
    expect(listener).not.toHaveBeenCalled();
  });

  it("reports network failures as ApiError with code network", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => Promise.reject(new TypeError("Failed to fetch"))));
    await expect(api.listConnectors()).rejects.toMatchObject({ status: 0, code: "network" });
  });

  it("encodes path parameters and query strings, skipping empty values", async () => {
    signIn();
    const { calls } = mockFetch({
      "DELETE /api/profiles/{id}/mappings/{kind}/{source}": { status: 204 },
      "GET /api/audit": { body: { items: [], next_cursor: "" } },
    });
    await expect(api.deleteMapping("p1", "project", "group-1-org-2")).resolves.toBeUndefined();
    await api.listAudit({ profile_id: "p1", type: "", cursor: "a b" });
    expect(calls[0].url).toBe("/api/profiles/p1/mappings/project/group-1-org-2");
    expect(calls[1].url).toBe("/api/audit?profile_id=p1&cursor=a+b");
  });

  it("follows the conflicts pages and de-duplicates by id", async () => {
    signIn();
    const c = (id: string) => ({ id, profile_id: "p1", entry_id: 1, ticket_id: 1, kind: "unmapped_activity", status: "open", message: "m", source_key: "", actions: [] });
    const { calls } = mockFetch({
      "GET /api/conflicts": (call) =>
        call.url.includes("cursor=o2")
          ? { body: { items: [c("p1.2"), c("p1.3")], next_cursor: "" } }
          : { body: { items: [c("p1.1"), c("p1.2")], next_cursor: "o2" } },
    });
    const all = await api.listConflicts({ status: "open" });
    expect(all.map((x) => x.id)).toEqual(["p1.1", "p1.2", "p1.3"]);
    expect(calls).toHaveLength(2);
    expect(calls[0].url).toContain(`limit=${queryLimits.listConflicts.limit.maximum}`); // the largest page the API allows
  });

  it("renews a token that is about to expire before the request, once", async () => {
    sessionStorage.setItem("timebridge.session", JSON.stringify({ token: "old", expires_at: new Date(Date.now() + 60_000).toISOString() }));
    const fresh = new Date(Date.now() + 15 * 60_000).toISOString();
    const { calls } = mockFetch({
      "POST /api/auth/refresh": { body: { token: "new", expires_at: fresh } },
      "GET /api/connectors": { body: { items: [] } },
      "GET /api/profiles": { body: { items: [] } },
    });
    await Promise.all([api.listConnectors(), api.listProfiles()]);
    const refreshes = calls.filter((c) => c.url.endsWith("/api/auth/refresh"));
    expect(refreshes).toHaveLength(1);
    expect(refreshes[0].headers.Authorization).toBe("Bearer old");
    expect(calls.filter((c) => !c.url.endsWith("/refresh")).map((c) => c.headers.Authorization)).toEqual(["Bearer new", "Bearer new"]);
    expect(loadSession()?.token).toBe("new");
  });

  it("does not renew a token with time left", async () => {
    signIn();
    const { calls } = mockFetch({ "GET /api/connectors": { body: { items: [] } } });
    await api.listConnectors();
    expect(calls.map((c) => c.url)).toEqual(["/api/connectors"]);
  });

  it("signs out on the server with the token it forgets", async () => {
    signIn();
    const { calls } = mockFetch({ "POST /api/auth/logout": { status: 204 } });
    const done = api.logout();
    expect(loadSession()).toBeNull(); // forgotten at once
    await done;
    expect(calls[0].headers.Authorization).toBe("Bearer tok-123");
  });
});

