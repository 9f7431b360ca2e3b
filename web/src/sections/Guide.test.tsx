import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { act, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { SetupBanner, SetupGuide, markTested, setupSteps, useSetup, type StepId } from "./Guide";
import { Connectors } from "./Connectors";
import { Profiles } from "./Profiles";
import { mockFetch, renderWithProviders, signIn } from "../test/helpers";
import type { Connector, Profile, Run } from "../api/client";

const t = "2026-11-01T10:00:00Z";
const conn = (id: string, kind: "zammad" | "kimai"): Connector => ({
  id, kind, name: kind === "zammad" ? "Helpdesk" : "Kimai", base_url: `https://${kind}.example.com`, token_set: true, token_hint: "…ab12",
  version: 1, created_at: t, updated_at: t,
});
const profile = (over: Partial<Profile> = {}): Profile => ({
  id: "p1", name: "Support", zammad_connector_id: "z1", kimai_connector_id: "k1", minutes_per_unit: "1", project_strategy: "customer",
  auto_create_customers: true, auto_create_projects: true, auto_create_activities: true, enabled: false, default_customer_id: 0,
  default_activity_id: 0, user_mode: "token", strict_users: false, deletion_window_days: 60, concurrency: 8, pace: "adaptive", interval_minutes: 15,
  tags: ["zammad"], webhook_url: "http://x/webhooks/zammad/p1", version: 1, created_at: t, updated_at: t, billing: { enabled: false, tag: "billed" },
  ...over,
});
const run = (over: Partial<Run>): Run => ({
  id: "r1", profile_id: "p1", trigger: "manual", mode: "incremental", dry_run: false, status: "succeeded", queued_at: t,
  counts: { seen: 1, created: 1, updated: 0, deleted: 0, unchanged: 0, skipped: 0, conflicts: 0, errors: 0 }, duration_ms: 1000,
  ...over,
});
const page = <T,>(items: T[]) => ({ body: { items, next_cursor: "" } });

const doneOf = (steps: ReturnType<typeof setupSteps>) => Object.fromEntries(steps.map((s) => [s.id, s.done])) as Record<StepId, boolean>;
const none = new Set<string>();

/** Shows whether useSetup has read everything, so a test can wait for it. */
function Probe() {
  const s = useSetup();
  return <p data-testid="probe" data-known={String(s.known)} data-complete={String(s.complete)} />;
}

beforeEach(() => localStorage.clear());
afterEach(() => localStorage.clear());

describe("setupSteps: each step's state from the server's", () => {
  it("nothing exists: nothing done, the Zammad step first", () => {
    const steps = setupSteps([], [], [], none);
    expect(steps.map((s) => s.id)).toEqual(["zammad", "kimai", "profile", "preview", "apply", "schedule"]);
    expect(steps.every((s) => !s.done)).toBe(true);
    expect(steps.map((s) => s.to)).toEqual(["/connectors", "/connectors", "/profiles", "/", "/", "/"]);
  });

  it("a Zammad connector counts once tested; until then it says so", () => {
    const added = setupSteps([conn("z1", "zammad")], [], [], none);
    expect(doneOf(added).zammad).toBe(false);
    expect(added[0].note).toMatch(/not passed a test/);
    expect(doneOf(setupSteps([conn("z1", "zammad")], [], [], new Set(["z1"]))).zammad).toBe(true);
    // A test of another connector does not count.
    expect(doneOf(setupSteps([conn("z1", "zammad")], [], [], new Set(["k1"]))).zammad).toBe(false);
  });

  it("Kimai connector, then profile", () => {
    const d = doneOf(setupSteps([conn("z1", "zammad"), conn("k1", "kimai")], [profile()], [], new Set(["z1"])));
    expect(d).toEqual({ zammad: true, kimai: true, profile: true, preview: false, apply: false, schedule: false });
  });

  it("a preview counts when it worked; a failed one does not", () => {
    const cs = [conn("z1", "zammad"), conn("k1", "kimai")];
    expect(doneOf(setupSteps(cs, [profile()], [run({ dry_run: true, status: "failed" })], none)).preview).toBe(false);
    expect(doneOf(setupSteps(cs, [profile()], [run({ dry_run: true, status: "running" })], none)).preview).toBe(false);
    const d = doneOf(setupSteps(cs, [profile()], [run({ dry_run: true, status: "succeeded" })], none));
    expect(d.preview).toBe(true);
    expect(d.apply).toBe(false);
  });

  it("Apply counts a real run that worked; it also proves the connection and makes the preview moot", () => {
    const cs = [conn("z1", "zammad"), conn("k1", "kimai")];
    expect(doneOf(setupSteps(cs, [profile()], [run({ status: "failed" })], none)).apply).toBe(false);
    expect(doneOf(setupSteps(cs, [profile()], [run({ status: "queued" })], none)).apply).toBe(false);
    const d = doneOf(setupSteps(cs, [profile()], [run({ status: "succeeded" })], none));
    expect(d).toEqual({ zammad: true, kimai: true, profile: true, preview: true, apply: true, schedule: false });
    // Runs of a profile that no longer exists do not count.
    expect(doneOf(setupSteps(cs, [profile()], [run({ profile_id: "gone" })], none)).apply).toBe(false);
  });

  it("the schedule step is an enabled profile", () => {
    const cs = [conn("z1", "zammad"), conn("k1", "kimai")];
    const steps = setupSteps(cs, [profile({ enabled: true })], [run({})], none);
    expect(steps.every((s) => s.done)).toBe(true);
  });
});

describe("SetupGuide", () => {
  beforeEach(() => history.replaceState(null, "", "/"));
  afterEach(() => history.replaceState(null, "", "/"));

  it("checks the done steps, marks the next one and links to where it is done", async () => {
    signIn();
    mockFetch({
      "GET /api/connectors": page([conn("z1", "zammad")]),
      "GET /api/profiles": page([]),
    });
    markTested("z1", true);
    renderWithProviders(<SetupGuide />);
    const guide = await screen.findByTestId("setup-guide");
    const steps = within(guide).getAllByTestId("guide-step");
    expect(steps.map((s) => s.dataset.done)).toEqual(["true", "false", "false", "false", "false", "false"]);
    expect(steps[0]).toHaveTextContent("(done)");
    expect(steps[1]).toHaveAttribute("aria-current", "step");
    expect(within(steps[1]).getByRole("link", { name: "Go to Connectors" })).toHaveAttribute("href", "/connectors");
    expect(within(steps[2]).getByRole("link", { name: "Profiles" })).toHaveAttribute("href", "/profiles");
    expect(within(guide).getByText(/1 of 6 steps done/)).toBeInTheDocument();
    // Steps done on the page shown (the Dashboard) link nowhere.
    expect(within(steps[3]).getByText("(here, below)")).toBeInTheDocument();
    expect(within(steps[3]).queryByRole("link")).toBeNull();
    // A failed test in this browser takes the check back.
    act(() => markTested("z1", false));
    expect(within(guide).getAllByTestId("guide-step")[0]).toHaveAttribute("data-done", "false");
  });

  it("follows the profile's runs, and is gone once every step is done", async () => {
    signIn();
    history.replaceState(null, "", "/connectors");
    mockFetch({
      "GET /api/connectors": page([conn("z1", "zammad"), conn("k1", "kimai")]),
      "GET /api/profiles": page([profile()]),
      "GET /api/runs": page([run({ dry_run: true }), run({ id: "r2" })]),
    });
    const { unmount } = renderWithProviders(<SetupGuide />);
    const guide = await screen.findByTestId("setup-guide");
    const steps = within(guide).getAllByTestId("guide-step");
    expect(steps.map((s) => s.dataset.done)).toEqual(["true", "true", "true", "true", "true", "false"]);
    // On another page the step links to the Dashboard; on the Dashboard it says it is here.
    expect(within(steps[5]).getByRole("link", { name: "Go to Dashboard" })).toHaveAttribute("href", "/");
    unmount();

    mockFetch({
      "GET /api/connectors": page([conn("z1", "zammad"), conn("k1", "kimai")]),
      "GET /api/profiles": page([profile({ enabled: true })]),
      "GET /api/runs": page([run({})]),
    });
    renderWithProviders(
      <>
        <SetupGuide />
        <SetupBanner />
        <Probe />
      </>,
    );
    await waitFor(() => expect(screen.getByTestId("probe")).toHaveAttribute("data-known", "true"));
    expect(screen.getByTestId("probe")).toHaveAttribute("data-complete", "true");
    expect(screen.queryByTestId("setup-guide")).toBeNull();
    expect(screen.queryByTestId("setup-banner")).toBeNull();
  });

  it("the banner on other pages names the next step and links to it", async () => {
    signIn();
    mockFetch({ "GET /api/connectors": page([conn("z1", "zammad"), conn("k1", "kimai")]), "GET /api/profiles": page([]) });
    markTested("z1", true);
    renderWithProviders(<SetupBanner />);
    const banner = await screen.findByTestId("setup-banner");
    expect(banner).toHaveTextContent("Setup, step 3 of 6: Create a sync profile");
    expect(within(banner).getByRole("link", { name: "on Profiles" })).toHaveAttribute("href", "/profiles");
    expect(within(banner).getByRole("link", { name: "all steps" })).toHaveAttribute("href", "/");
  });
});

describe("Add forms after setup", () => {
  const complete = {
    "GET /api/connectors": page([conn("z1", "zammad"), conn("k1", "kimai")]),
    "GET /api/profiles": page([profile({ enabled: true })]),
    "GET /api/runs": page([run({})]),
  };

  it("are open while nothing exists", async () => {
    signIn();
    mockFetch({ "GET /api/connectors": page([]), "GET /api/profiles": page([]) });
    renderWithProviders(
      <>
        <Connectors />
        <Profiles />
      </>,
    );
    expect(await screen.findByTestId("connector-form")).toBeInTheDocument();
    expect(screen.getByTestId("profile-form")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Add connector" })).toBeNull();
  });

  it("connectors: behind “Add connector” once setup is complete; the button opens it and focus moves in", async () => {
    signIn();
    mockFetch(complete);
    renderWithProviders(<Connectors />);
    const add = await screen.findByRole("button", { name: "Add connector" });
    expect(screen.queryByTestId("connector-form")).toBeNull();
    expect(add).toHaveAttribute("aria-expanded", "false");
    await userEvent.click(add);
    const form = await screen.findByTestId("connector-form");
    expect(within(form).getByRole("heading", { name: "Add a connector" })).toHaveFocus();
    const close = screen.getByRole("button", { name: "Close the new connector form" });
    expect(close).toHaveAttribute("aria-expanded", "true");
    await userEvent.click(close);
    expect(screen.queryByTestId("connector-form")).toBeNull();
  });

  it("profiles: behind “Add profile” once setup is complete", async () => {
    signIn();
    mockFetch(complete);
    renderWithProviders(<Profiles />);
    const add = await screen.findByRole("button", { name: "Add profile" });
    expect(screen.queryByTestId("profile-form")).toBeNull();
    await userEvent.click(add);
    expect(await screen.findByTestId("profile-form")).toBeInTheDocument();
  });
});
