// Issue 11 item 5, "Smaller, all seen": one check per bug. Layout at 360 px
// and focus in a real browser are checked again by e2e/console.test.mjs.
import { describe, expect, it, vi } from "vitest";
// @ts-expect-error: a plain ES module without types (web/scripts).
import { zammadPermissionsOfProbe } from "../scripts/probe-permissions.mjs";
import { act, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { App, SignIn } from "./App";
import { ConnectorForm, Connectors, tokenSummary, zammadPermissions } from "./sections/Connectors";
import { Profiles } from "./sections/Profiles";
import { Conflicts, noConflictsText } from "./sections/Conflicts";
import { Mappings, externalNumber, unmappedOutcome } from "./sections/Mappings";
import { Audit } from "./sections/Audit";
import { Runs } from "./sections/Runs";
import { mockFetch, renderWithProviders, signIn } from "./test/helpers";
import type { CatalogItem, Connector, Profile, Run } from "./api/client";

const t = "2025-03-01T10:00:00Z";
const conn = (id: string, kind: "zammad" | "kimai", name: string, hint = "…ab12"): Connector => ({
  id, kind, name, base_url: `https://${kind}.example.com`, token_set: true, token_hint: hint, version: 1, created_at: t, updated_at: t,
});
const profile: Profile = {
  id: "p1", name: "Support", zammad_connector_id: "z1", kimai_connector_id: "k1", minutes_per_unit: "1", project_strategy: "customer",
  auto_create_customers: true, auto_create_projects: true, auto_create_activities: false, enabled: false, default_customer_id: 0,
  default_activity_id: 0, user_mode: "token", strict_users: false, deletion_window_days: 60, concurrency: 8, pace: "adaptive", interval_minutes: 15,
  tags: ["zammad"], webhook_url: "http://x/webhooks/zammad/p1", version: 1, created_at: t, updated_at: t, billing: { enabled: false, tag: "billed" },
};
const run = (over: Partial<Run>): Run => ({
  id: "r1", profile_id: "p1", trigger: "manual", mode: "incremental", dry_run: false, status: "succeeded", queued_at: t,
  counts: { seen: 1, created: 1, updated: 0, deleted: 0, unchanged: 0, skipped: 0, conflicts: 0, errors: 0 },
  duration_ms: 1000,
  ...over,
});
const page = <T,>(items: T[]) => ({ body: { items, next_cursor: "" } });
const twoConnectors = { "GET /api/connectors": page([conn("z1", "zammad", "Demo Zammad"), conn("k1", "kimai", "Demo Kimai")]), "GET /api/profiles": page([]) };

describe("failure toasts are not styled as success", () => {
  it("a connector test with a failed check toasts an error; a passing one a success", async () => {
    signIn();
    mockFetch({
      ...twoConnectors,
      "POST /api/connectors/z1/test": {
        body: { ok: false, checks: [{ name: "auth", status: "failed", class: "auth", message: "The Zammad token is invalid or expired." }] },
      },
      "POST /api/connectors/k1/test": { body: { ok: true, checks: [{ name: "auth", status: "ok", message: "fine" }] } },
    });
    renderWithProviders(<Connectors />);
    await userEvent.click(await screen.findByRole("button", { name: "Test connection to connector “Demo Zammad”" }));
    const failed = await screen.findByText(/“Demo Zammad”: The Zammad token is invalid/);
    const toast = failed.closest("[data-testid=toast]");
    expect(toast).toHaveAttribute("data-kind", "error");
    expect(toast).toHaveClass("toast-error");
    expect(toast).not.toHaveClass("toast-success");
    expect(within(screen.getByRole("alert", { name: "" })).getByText(/token is invalid/)).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Test connection to connector “Demo Kimai”" }));
    const ok = (await screen.findByText("“Demo Kimai”: connection works.")).closest("[data-testid=toast]");
    expect(ok).toHaveAttribute("data-kind", "success");
    expect(ok).toHaveClass("toast-success");
  });
});

describe("the Zammad token hint names the permissions the connector test checks", () => {
  it("is the list of shared/probe (ZammadPermissions), shown in the create form", () => {
    const goList: string[] | null = zammadPermissionsOfProbe();
    expect(goList, "ZammadPermissions in shared/probe/probe.go").not.toBeNull();
    if (!goList) return;
    expect([...zammadPermissions]).toEqual(goList);
    renderWithProviders(<ConnectorForm />);
    const hint = screen.getByLabelText("Token");
    for (const p of goList) expect(hint).toHaveAccessibleDescription(new RegExp(p.replace(".", "\\.")));
    expect(hint).not.toHaveAccessibleDescription(/admin\.object/);
  });
});

describe("Conflicts' empty state follows the runs", () => {
  it("does not claim a clean sync before any run", async () => {
    signIn();
    mockFetch({ "GET /api/conflicts": page([]), "GET /api/profiles": page([profile]), "GET /api/runs": page([run({ dry_run: true })]) });
    renderWithProviders(<Conflicts />);
    const empty = await screen.findByTestId("no-conflicts");
    expect(empty).toHaveTextContent("nothing has synced yet");
    expect(empty).not.toHaveTextContent(/clean/i);
  });
  it("says clean only after a clean run, and names a failed last run", () => {
    expect(noConflictsText([])).toMatch(/nothing has synced yet/);
    expect(noConflictsText([run({ status: "running" })])).toMatch(/under way/);
    expect(noConflictsText([run({ status: "succeeded" })])).toMatch(/ran cleanly/);
    expect(noConflictsText([run({ status: "failed" }), run({ status: "succeeded" })])).toMatch(/ended failed: see Runs/);
    expect(noConflictsText([run({ dry_run: true }), run({ status: "partial" })])).toMatch(/ended partial/);
    expect(noConflictsText(null)).toBe("No open conflicts.");
  });
});

describe("Mappings says how an unmapped item resolves", () => {
  it("computes the engine's external numbers (shared/engine/plan/lookup.go)", () => {
    // Values from CustomerNumber, ActivityNumber and ProjectNumber in Go.
    expect(externalNumber("activity", "1")).toBe("ZA1");
    expect(externalNumber("activity", "35")).toBe("ZAZ");
    expect(externalNumber("customer", "36")).toBe("ZO10");
    expect(externalNumber("customer", "123456")).toBe("ZO2N9C");
    expect(externalNumber("project", "org-5")).toBe("ZP5");
    expect(externalNumber("project", "ticket-31021")).toBe("ZTNXP");
    expect(externalNumber("project", "group-2-org-77")).toBe("ZG2.25");
    expect(externalNumber("project", "group-2000000-org-77000000")).toBeNull(); // longer than Kimai's 10 characters
    expect(externalNumber("user", "3")).toBeNull();
  });

  it("by number, by auto-create, else as a conflict; users by email or the token's user", () => {
    const acts: CatalogItem[] = [{ id: 9, name: "Support (phone)", number: "ZA1", active: true }];
    expect(unmappedOutcome("activity", { id: "1" }, profile, acts)).toMatchObject({ how: "number", text: expect.stringContaining("ZA1 → Kimai activity “Support (phone)”") });
    expect(unmappedOutcome("activity", { id: "2" }, profile, acts).how).toBe("conflict");
    expect(unmappedOutcome("activity", { id: "2" }, { ...profile, auto_create_activities: true }, acts)).toMatchObject({ how: "create", text: expect.stringContaining("ZA2") });
    expect(unmappedOutcome("customer", { id: "5" }, profile, []).how).toBe("create");
    const users: CatalogItem[] = [{ id: 4, name: "anna", email: "Anna@example.com", active: true }];
    expect(unmappedOutcome("user", { id: "3", email: "anna@example.com" }, profile, users).how).toBe("token_user");
    expect(unmappedOutcome("user", { id: "3", email: "anna@example.com" }, { ...profile, user_mode: "email" }, users)).toMatchObject({ how: "email", text: expect.stringContaining("anna") });
    expect(unmappedOutcome("user", { id: "3", email: "bob@example.com" }, { ...profile, user_mode: "email", strict_users: true }, users).how).toBe("conflict");
  });

  it("shows it on each row instead of 'external number, auto-create, then conflict'", async () => {
    signIn();
    mockFetch({
      "GET /api/profiles": page([profile]),
      "GET /api/conflicts": page([]),
      "GET /api/profiles/p1/mappings": page([]),
      "GET /api/connectors/z1/catalog": { body: { types: [{ id: 1, name: "Phone", active: true }, { id: 2, name: "Email", active: true }], warnings: [] } },
      "GET /api/connectors/k1/catalog": { body: { activities: [{ id: 9, name: "Support (phone)", number: "ZA1", active: true }], warnings: [] } },
    });
    renderWithProviders(<Mappings />);
    await waitFor(() => expect(document.querySelectorAll("[data-testid=mapping-row]")).toHaveLength(2));
    const [phone, email] = screen.getAllByTestId("mapping-row");
    expect(phone).toHaveAttribute("data-resolves", "number");
    expect(within(phone).getByTestId("mapping-outcome")).toHaveTextContent("found by external number ZA1 → Kimai activity “Support (phone)”");
    expect(email).toHaveAttribute("data-resolves", "conflict");
    expect(document.body).not.toHaveTextContent("external number, auto-create, then conflict");
  });
});

describe("a short token's hint", () => {
  it("says a token is stored instead of showing an empty ending", () => {
    expect(tokenSummary({ token_set: true, token_hint: "…" })).toBe("token set (too short to show its end)");
    expect(tokenSummary({ token_set: true, token_hint: "…ab12" })).toBe("token …ab12");
    expect(tokenSummary({ token_set: false, token_hint: "" })).toBe("token not set");
    renderWithProviders(<ConnectorForm connector={conn("z1", "zammad", "Demo Zammad", "…")} />);
    const token = screen.getByLabelText("Token");
    expect(token).toHaveAccessibleDescription(/^A token is stored and never shown/);
    expect(token).not.toHaveAccessibleDescription(/ending/);
  });
});

describe("focus after a failed submit", () => {
  it("moves to the first invalid field", async () => {
    mockFetch({});
    renderWithProviders(<ConnectorForm />);
    await userEvent.type(screen.getByLabelText("Name"), "Helpdesk");
    await userEvent.click(screen.getByRole("button", { name: "Save connector" }));
    expect(screen.getByLabelText("Base URL")).toHaveFocus();
    expect(screen.getByLabelText("Base URL")).toHaveAttribute("aria-invalid", "true");
  });

  it("moves to the field the server named, or to the error summary", async () => {
    signIn();
    let fields: Record<string, string> = { base_url: "must not point to a private address" };
    mockFetch({
      "POST /api/connectors": () => ({ status: fields.base_url ? 400 : 409, body: { error: { code: fields.base_url ? "validation_failed" : "conflict", message: "Something is wrong.", fields } } }),
    });
    renderWithProviders(<ConnectorForm />);
    await userEvent.type(screen.getByLabelText("Name"), "Helpdesk");
    await userEvent.type(screen.getByLabelText("Base URL"), "https://10.0.0.1");
    await userEvent.type(screen.getByLabelText("Token"), "tok-12345678");
    await userEvent.click(screen.getByRole("button", { name: "Save connector" }));
    await waitFor(() => expect(screen.getByLabelText("Base URL")).toHaveFocus());
    fields = {};
    await userEvent.click(screen.getByRole("button", { name: "Save connector" }));
    const summary = await waitFor(() => {
      const el = document.querySelector<HTMLElement>("[data-form-error]");
      expect(el).not.toBeNull();
      return el!;
    });
    await waitFor(() => expect(summary).toHaveFocus());
    expect(summary).toHaveTextContent("Something is wrong.");
  });

  it("on sign-in: the empty field, else the error", async () => {
    mockFetch({ "POST /api/auth/login": { status: 401, body: { error: { code: "unauthorized", message: "Wrong username or password.", fields: {} } } } });
    renderWithProviders(<SignIn notice={null} onSignedIn={() => {}} />);
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(screen.getByLabelText("Password")).toHaveFocus();
    await userEvent.clear(screen.getByLabelText("Username"));
    await userEvent.type(screen.getByLabelText("Password"), "pw");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(screen.getByLabelText("Username")).toHaveFocus();
    await userEvent.type(screen.getByLabelText("Username"), "admin");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    await waitFor(() => expect(screen.getByTestId("signin-error")).toHaveFocus());
    expect(screen.getByTestId("signin-error")).toHaveTextContent("Wrong username or password.");
  });
});

describe("Edit is one form, saying what it saves", () => {
  it("connectors: the Add form steps aside; focus goes to the edit form and back", async () => {
    signIn();
    mockFetch(twoConnectors);
    renderWithProviders(<Connectors />);
    const edit = await screen.findByRole("button", { name: "Edit connector “Demo Zammad”" });
    expect(screen.getByRole("button", { name: "Save connector" })).toBeInTheDocument();
    await userEvent.click(edit);
    expect(screen.queryByRole("button", { name: "Save connector" })).toBeNull();
    expect(screen.queryByTestId("connector-form")).toBeNull();
    expect(screen.getAllByRole("button", { name: /^Save/ })).toHaveLength(1);
    const form = screen.getByTestId("connector-edit-form");
    expect(within(form).getByRole("button", { name: "Save changes" })).toBeInTheDocument();
    expect(within(form).getByRole("heading", { name: "Edit connector “Demo Zammad”" })).toHaveFocus();
    // Another Edit moves the one form.
    await userEvent.click(screen.getByRole("button", { name: "Edit connector “Demo Kimai”" }));
    expect(screen.getAllByTestId("connector-edit-form")).toHaveLength(1);
    expect(screen.getByRole("heading", { name: "Edit connector “Demo Kimai”" })).toBeInTheDocument();
    await userEvent.click(within(screen.getByTestId("connector-edit-form")).getByRole("button", { name: "Cancel" }));
    expect(screen.queryByTestId("connector-edit-form")).toBeNull();
    expect(screen.getByRole("button", { name: "Save connector" })).toBeInTheDocument();
    await waitFor(() => expect(screen.getByRole("button", { name: "Edit connector “Demo Kimai”" })).toHaveFocus());
  });

  it("profiles: the same", async () => {
    signIn();
    mockFetch({ "GET /api/connectors": twoConnectors["GET /api/connectors"], "GET /api/profiles": page([profile]) });
    renderWithProviders(<Profiles />);
    await userEvent.click(await screen.findByRole("button", { name: "Edit profile “Support”" }));
    expect(screen.queryByTestId("profile-form")).toBeNull();
    expect(screen.queryByRole("button", { name: "Save profile" })).toBeNull();
    const form = screen.getByTestId("profile-edit-form");
    expect(within(form).getByRole("button", { name: "Save changes" })).toBeInTheDocument();
    expect(within(form).getByRole("heading", { name: "Edit profile “Support”" })).toHaveFocus();
  });
});

describe("repeated buttons name their connector or profile", () => {
  it("keeps the visible text short", async () => {
    signIn();
    mockFetch({ "GET /api/connectors": twoConnectors["GET /api/connectors"], "GET /api/profiles": page([profile]) });
    renderWithProviders(
      <>
        <Connectors />
        <Profiles />
      </>,
    );
    for (const [id, name] of [["z1", "Demo Zammad"], ["k1", "Demo Kimai"]]) {
      const row = (await screen.findAllByTestId("connector-row")).find((r) => r.dataset.id === id)!;
      expect(within(row).getByRole("button", { name: `Edit connector “${name}”` })).toHaveTextContent(/^Edit$/);
      expect(within(row).getByRole("button", { name: `Delete connector “${name}”` })).toHaveTextContent(/^Delete$/);
      expect(within(row).getByRole("button", { name: `Test connection to connector “${name}”` })).toHaveTextContent(/^Test connection$/);
    }
    const prow = (await screen.findAllByTestId("profile-row"))[0];
    expect(within(prow).getByRole("button", { name: "Edit profile “Support”" })).toHaveTextContent(/^Edit$/);
    expect(within(prow).getByRole("button", { name: "Delete profile “Support”" })).toHaveTextContent(/^Delete$/);
    expect(within(prow).getByRole("button", { name: "Rotate secret of profile “Support”" })).toHaveTextContent(/^Rotate secret$/);
    // No two buttons share a name.
    const names = screen.getAllByRole("button").map((b) => b.getAttribute("aria-label") ?? b.textContent);
    const repeated = names.filter((n, i) => names.indexOf(n) !== i && /^(Edit|Delete|Test connection)/.test(n ?? ""));
    expect(repeated).toEqual([]);
  });
});

describe("the console shell", () => {
  const routes = {
    "GET /api/connectors": page([]), "GET /api/profiles": page([]), "GET /api/conflicts": page([]), "GET /api/runs": page([]), "GET /api/audit": page([]),
  };

  it("the skip link's target exists and receives focus", async () => {
    signIn();
    mockFetch(routes);
    // jsdom has no layout and no scrollIntoView: a no-op here.
    const scrolled = vi.fn();
    Object.defineProperty(HTMLElement.prototype, "scrollIntoView", { value: scrolled, configurable: true });
    render(<App />);
    const skip = await screen.findByRole("link", { name: "Skip to content" });
    const target = document.getElementById(skip.getAttribute("href")!.slice(1));
    expect(target?.tagName).toBe("MAIN");
    await userEvent.click(skip);
    expect(target).toHaveFocus();
    expect(scrolled).toHaveBeenCalled();
    Reflect.deleteProperty(HTMLElement.prototype, "scrollIntoView");
  });

  it("the nav marks the current page (aria-current=page), a run's page under Runs", async () => {
    signIn();
    mockFetch(routes);
    history.replaceState(null, "", "/");
    render(<App />);
    const nav = await screen.findByTestId("nav");
    expect(within(nav).getByRole("link", { name: "Dashboard" })).toHaveAttribute("aria-current", "page");
    act(() => {
      history.pushState({}, "", "/runs");
      window.dispatchEvent(new PopStateEvent("popstate"));
    });
    expect(within(nav).getByRole("link", { name: "Runs" })).toHaveAttribute("aria-current", "page");
    expect(within(nav).getAllByRole("link").filter((a) => a.hasAttribute("aria-current"))).toHaveLength(1);
    act(() => {
      history.pushState({}, "", "/runs/r1");
      window.dispatchEvent(new PopStateEvent("popstate"));
    });
    expect(within(nav).getByRole("link", { name: "Runs" })).toHaveAttribute("aria-current", "page");
    history.replaceState(null, "", "/");
  });
});

describe("narrow tables never break inside a word", () => {
  it("an audit type wraps only after its dots; short run cells stay on one line", async () => {
    signIn();
    mockFetch({
      "GET /api/profiles": page([profile]),
      "GET /api/audit": page([{ id: "a1", time: t, type: "profile.webhook_secret_rotated", actor: "admin", subject: "profile p1" }]),
      "GET /api/runs": page([run({})]),
    });
    renderWithProviders(
      <>
        <Audit />
        <Runs />
      </>,
    );
    const cell = await screen.findByTestId("audit-type");
    const code = cell.querySelector("code")!;
    expect(code).toHaveClass("event-type");
    expect(code.innerHTML).toBe("profile.<wbr>webhook_secret_rotated");
    const row = await screen.findByTestId("run-row");
    const cells = row.querySelectorAll("td");
    for (const i of [0, 3, 4, 5, 6, 7].filter((i) => i !== 5)) expect(cells[i]).toHaveClass("nowrap");
    // Scrollable table regions are reachable by keyboard and named.
    expect(screen.getByRole("region", { name: "Runs table" })).toHaveAttribute("tabindex", "0");
    expect(screen.getByRole("region", { name: "Audit events table" })).toHaveAttribute("tabindex", "0");
  });
});
