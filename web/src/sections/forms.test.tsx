import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { ConnectorForm } from "./Connectors";
import { ProfileForm } from "./Profiles";
import { ManualProjectMapping } from "./Mappings";
import { mockFetch, renderWithProviders, signIn } from "../test/helpers";
import type { Connector, Profile } from "../api/client";

const conn = (id: string, kind: "zammad" | "kimai", name: string): Connector => ({
  id, kind, name, base_url: `https://${kind}.example.com`, token_set: true, token_hint: "…ab12", version: 1,
  created_at: "2025-01-01T00:00:00Z", updated_at: "2025-01-01T00:00:00Z",
});

describe("connector form", () => {
  it("validates on the client before sending", async () => {
    const { calls } = mockFetch({});
    renderWithProviders(<ConnectorForm />);
    await userEvent.type(screen.getByLabelText("Base URL"), "not a url");
    await userEvent.click(screen.getByRole("button", { name: "Save connector" }));
    expect(screen.getByLabelText("Name")).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByLabelText("Name")).toHaveAccessibleDescription(/Enter a name/);
    expect(screen.getByLabelText("Base URL")).toHaveAccessibleDescription(/full URL/);
    expect(screen.getByLabelText("Token")).toHaveAccessibleDescription(/Paste the API token/);
    expect(calls).toHaveLength(0);
  });

  it("sends the connector and shows the server's field errors next to the fields", async () => {
    signIn();
    const { calls } = mockFetch({
      "POST /api/connectors": {
        status: 400,
        body: { error: { code: "validation_failed", message: "Some fields are invalid.", fields: { base_url: "must not point to a private address" } } },
      },
    });
    renderWithProviders(<ConnectorForm />);
    await userEvent.selectOptions(screen.getByLabelText("Kind"), "kimai");
    await userEvent.type(screen.getByLabelText("Name"), "Kimai");
    await userEvent.type(screen.getByLabelText("Base URL"), "https://10.0.0.1");
    await userEvent.type(screen.getByLabelText("Token"), "secret-token");
    await userEvent.click(screen.getByRole("button", { name: "Save connector" }));
    await waitFor(() => expect(screen.getByLabelText("Base URL")).toHaveAccessibleDescription("must not point to a private address"));
    expect(calls[0]).toMatchObject({ method: "POST", body: { kind: "kimai", name: "Kimai", base_url: "https://10.0.0.1", token: "secret-token" } });
    expect(await screen.findByTestId("toast")).toHaveTextContent("Some fields are invalid.");
  });

  it("edits without resending the write-only token unless replaced", async () => {
    signIn();
    const c = conn("c1", "zammad", "Helpdesk");
    const { calls } = mockFetch({ "PATCH /api/connectors/{id}": { body: { ...c, name: "Helpdesk 2", version: 2 } } });
    renderWithProviders(<ConnectorForm connector={c} />);
    expect(screen.getByLabelText("Token")).toHaveValue("");
    expect(screen.getByLabelText("Token")).toHaveAccessibleDescription(/…ab12/);
    await userEvent.clear(screen.getByLabelText("Name"));
    await userEvent.type(screen.getByLabelText("Name"), "Helpdesk 2");
    // An edit saves changes: its button is not the Add form's "Save connector".
    expect(screen.queryByRole("button", { name: "Save connector" })).toBeNull();
    await userEvent.click(screen.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(calls).toHaveLength(1));
    expect(calls[0].url).toBe("/api/connectors/c1");
    expect(calls[0].body).toEqual({ name: "Helpdesk 2", base_url: "https://zammad.example.com", version: 1 });
    expect(await screen.findByTestId("toast")).toHaveTextContent("Connector “Helpdesk 2” saved");
  });
});

describe("profile form", () => {
  const connectors = [conn("z1", "zammad", "Helpdesk"), conn("k1", "kimai", "Kimai")];

  it("validates on the client before sending", async () => {
    const { calls } = mockFetch({});
    renderWithProviders(<ProfileForm connectors={connectors} />);
    const form = screen.getByTestId("profile-form");
    await userEvent.clear(within(form).getByLabelText("Minutes per unit"));
    await userEvent.type(within(form).getByLabelText("Minutes per unit"), "0");
    await userEvent.click(within(form).getByRole("button", { name: "Save profile" }));
    expect(within(form).getByLabelText("Name")).toHaveAttribute("aria-invalid", "true");
    expect(within(form).getByLabelText("Zammad connector")).toHaveAccessibleDescription(/Choose the Zammad connector/);
    expect(within(form).getByLabelText("Kimai connector")).toHaveAccessibleDescription(/Choose the Kimai connector/);
    expect(within(form).getByLabelText("Minutes per unit")).toHaveAccessibleDescription(/above 0/);
    expect(calls).toHaveLength(0);
  });

  it("offers only connectors of the right kind, sends every setting, shows server field errors", async () => {
    signIn();
    const { calls } = mockFetch({
      "POST /api/profiles": {
        status: 400,
        body: { error: { code: "validation_failed", message: "Invalid profile.", fields: { kimai_connector_id: "connector k1 is not reachable" } } },
      },
    });
    renderWithProviders(<ProfileForm connectors={connectors} />);
    const zSel = screen.getByLabelText("Zammad connector");
    expect(within(zSel).queryByText("Kimai")).toBeNull();
    await userEvent.type(screen.getByLabelText("Name"), "Support");
    await userEvent.selectOptions(zSel, "z1");
    await userEvent.selectOptions(screen.getByLabelText("Kimai connector"), "k1");
    await userEvent.clear(screen.getByLabelText("Minutes per unit"));
    await userEvent.type(screen.getByLabelText("Minutes per unit"), "15");
    await userEvent.selectOptions(screen.getByLabelText("Project strategy"), "ticket");
    await userEvent.click(screen.getByLabelText("Auto-create customers"));
    // A new profile starts disabled: there is no switch for it yet.
    expect(screen.queryByLabelText("Enabled")).toBeNull();
    await userEvent.click(screen.getByRole("button", { name: "Save profile" }));
    await waitFor(() => expect(screen.getByLabelText("Kimai connector")).toHaveAccessibleDescription("connector k1 is not reachable"));
    // The Kimai connector's catalog is read for the default customer and activity pickers.
    expect(calls.filter((c) => c.method === "GET").map((c) => c.url)).toEqual(["/api/connectors/k1/catalog"]);
    expect(calls.find((c) => c.method === "POST")?.body).toMatchObject({
      name: "Support", zammad_connector_id: "z1", kimai_connector_id: "k1", minutes_per_unit: "15",
      project_strategy: "ticket", auto_create_customers: false, auto_create_projects: true, auto_create_activities: true,
      enabled: false, interval_minutes: 15, deletion_window_days: 60, concurrency: 32, pace: "adaptive", tags: [],
      default_customer_id: 0, default_activity_id: 0, billing: { enabled: false, tag: "billed" },
    });
  });
});

describe("profile form, server errors", () => {
  const connectors = [conn("z1", "zammad", "Helpdesk"), conn("k1", "kimai", "Kimai")];

  it("drops a field's server error once the field is edited; keeps the others", async () => {
    signIn();
    mockFetch({
      "POST /api/profiles": {
        status: 400,
        body: { error: { code: "validation_failed", message: "Invalid profile.", fields: { name: "is taken", concurrency: "too high for Kimai" } } },
      },
    });
    renderWithProviders(<ProfileForm connectors={connectors} />);
    await userEvent.type(screen.getByLabelText("Name"), "Support");
    await userEvent.selectOptions(screen.getByLabelText("Zammad connector"), "z1");
    await userEvent.selectOptions(screen.getByLabelText("Kimai connector"), "k1");
    await userEvent.click(screen.getByRole("button", { name: "Save profile" }));
    await waitFor(() => expect(screen.getByLabelText("Name")).toHaveAccessibleDescription("is taken"));
    expect(screen.getByLabelText("Write concurrency")).toHaveAccessibleDescription("too high for Kimai");
    await userEvent.type(screen.getByLabelText("Name"), " 2");
    expect(screen.getByLabelText("Name")).not.toHaveAttribute("aria-invalid");
    expect(screen.getByLabelText("Write concurrency")).toHaveAccessibleDescription("too high for Kimai");
  });
});

describe("manual project mapping", () => {
  const targets = [{ id: 7, name: "Website", active: true }];

  it("ticket strategy: saves only a valid ticket id with a project picked by name, then empties the id", async () => {
    signIn();
    const { calls } = mockFetch({
      "PUT /api/profiles/{id}/mappings": { body: { kind: "project", source_id: "ticket-12", target_id: 7 } },
    });
    renderWithProviders(<ManualProjectMapping profileId="p1" strategy="ticket" targets={targets} />);
    const save = screen.getByRole("button", { name: "Save mapping" });
    expect(save).toBeDisabled();
    await userEvent.type(screen.getByLabelText("Zammad ticket id"), "x");
    expect(screen.getByLabelText("Zammad ticket id")).toHaveAttribute("aria-invalid", "true");
    await userEvent.clear(screen.getByLabelText("Zammad ticket id"));
    await userEvent.type(screen.getByLabelText("Zammad ticket id"), "12");
    expect(screen.getByLabelText("Zammad ticket id")).not.toHaveAttribute("aria-invalid");
    expect(save).toBeDisabled();
    // The project is picked by its name, the id shown after it.
    expect(screen.getByRole("option", { name: "Website · #7" })).toBeInTheDocument();
    await userEvent.selectOptions(screen.getByLabelText("Kimai project"), "7");
    expect(save).toBeEnabled();
    await userEvent.click(save);
    await waitFor(() => expect(calls).toHaveLength(1));
    expect(calls[0]).toMatchObject({ method: "PUT", url: "/api/profiles/p1/mappings", body: { kind: "project", source_id: "ticket-12", target_id: 7 } });
    expect(await screen.findByTestId("toast")).toHaveTextContent("Mapped ticket id 12 to Kimai project “Website”.");
    expect(screen.getByLabelText("Zammad ticket id")).toHaveValue("");
    expect(screen.getByLabelText("Kimai project")).toHaveValue("7");
  });

  it("group strategy: group and organization are picked by name, none = 0", async () => {
    signIn();
    const { calls } = mockFetch({
      "PUT /api/profiles/{id}/mappings": { body: { kind: "project", source_id: "group-2-org-0", target_id: 7 } },
    });
    const groups = [{ id: 2, name: "Support", active: true }];
    const organizations = [{ id: 5, name: "Acme", active: true }];
    renderWithProviders(<ManualProjectMapping profileId="p1" strategy="group" targets={targets} groups={groups} organizations={organizations} />);
    expect(screen.queryByLabelText("Zammad ticket id")).toBeNull();
    expect(screen.getByLabelText("Zammad organization")).toHaveValue("0");
    expect(screen.getByRole("option", { name: "Acme · #5" })).toBeInTheDocument();
    await userEvent.selectOptions(screen.getByLabelText("Zammad group"), "2");
    await userEvent.selectOptions(screen.getByLabelText("Kimai project"), "7");
    await userEvent.click(screen.getByRole("button", { name: "Save mapping" }));
    await waitFor(() => expect(calls).toHaveLength(1));
    expect(calls[0].body).toEqual({ kind: "project", source_id: "group-2-org-0", target_id: 7 });
    expect(await screen.findByTestId("toast")).toHaveTextContent("Mapped group “Support”, no organization to Kimai project “Website”.");
  });
});

describe("profile form: catalog pickers", () => {
  const connectors = [conn("z1", "zammad", "Helpdesk"), conn("k1", "kimai", "Kimai"), conn("k2", "kimai", "Other Kimai")];
  const catalog = {
    body: {
      connector_id: "k1", kind: "kimai", warnings: [],
      customers: [{ id: 3, name: "Acme GmbH", active: true, number: "ZO5" }, { id: 4, name: "Old Corp", active: false }],
      activities: [{ id: 9, name: "Support", active: true }],
    },
  };

  it("picks the default customer and activity by name from the chosen Kimai connector's catalog; None = 0", async () => {
    signIn();
    const { calls } = mockFetch({
      "GET /api/connectors/{id}/catalog": catalog,
      "POST /api/profiles": { status: 400, body: { error: { code: "validation_failed", message: "stop here", fields: {} } } },
    });
    renderWithProviders(<ProfileForm connectors={connectors} />);
    const customer = screen.getByLabelText("Default customer");
    expect(customer).toHaveValue("0");
    expect(customer).toHaveAccessibleDescription(/Choose the Kimai connector first/);
    expect(calls).toHaveLength(0);
    await userEvent.selectOptions(screen.getByLabelText("Kimai connector"), "k1");
    // Names first, the id (and Kimai number) as secondary text; inactive ones marked.
    expect(await within(customer).findByRole("option", { name: "Acme GmbH · #3 · ZO5" })).toBeInTheDocument();
    expect(within(customer).getByRole("option", { name: "Old Corp · #4 (inactive)" })).toBeInTheDocument();
    expect(within(customer).getByRole("option", { name: "None" })).toHaveValue("0");
    const activity = screen.getByLabelText("Default activity");
    expect(within(activity).getByRole("option", { name: "Support · #9" })).toBeInTheDocument();
    expect(calls.map((c) => c.url)).toEqual(["/api/connectors/k1/catalog"]);
    await userEvent.selectOptions(customer, "3");
    await userEvent.type(screen.getByLabelText("Name"), "Support");
    await userEvent.selectOptions(screen.getByLabelText("Zammad connector"), "z1");
    await userEvent.click(screen.getByRole("button", { name: "Save profile" }));
    await waitFor(() => expect(calls.some((c) => c.method === "POST")).toBe(true));
    expect(calls.find((c) => c.method === "POST")?.body).toMatchObject({ default_customer_id: 3, default_activity_id: 0 });
  });

  it("keeps an id the catalog does not list, and says when the catalog cannot be read", async () => {
    signIn();
    mockFetch({ "GET /api/connectors/{id}/catalog": { status: 502, body: { error: { code: "upstream_error", message: "Kimai is down.", fields: {} } } } });
    const p: Profile = {
      id: "p1", name: "Support", zammad_connector_id: "z1", kimai_connector_id: "k2", minutes_per_unit: "1", project_strategy: "customer",
      auto_create_customers: true, auto_create_projects: true, auto_create_activities: true, enabled: false, default_customer_id: 99,
      default_activity_id: 0, user_mode: "token", strict_users: false, deletion_window_days: 60, concurrency: 8, pace: "adaptive", interval_minutes: 15,
      tags: ["zammad"], webhook_url: "http://x/webhooks/zammad/p1", version: 1, created_at: "2025-01-01T00:00:00Z", updated_at: "2025-01-01T00:00:00Z",
      billing: { enabled: false, tag: "billed" },
    };
    renderWithProviders(<ProfileForm profile={p} connectors={connectors} />);
    const customer = screen.getByLabelText("Default customer");
    expect(customer).toHaveValue("99");
    expect(within(customer).getByRole("option", { name: /#99 \(not in the catalog/ })).toBeInTheDocument();
    await waitFor(() => expect(customer).toHaveAccessibleDescription(/could not be read: Kimai is down/), { timeout: 4000 });
  });
});

describe("profile form: billing", () => {
  const connectors = [conn("z1", "zammad", "Helpdesk"), conn("k1", "kimai", "Kimai")];
  const catalog = { body: { connector_id: "k1", kind: "kimai", warnings: [], customers: [], activities: [] } };

  it("is off by default; on, it asks for the tag (default billed), checks it and sends it", async () => {
    signIn();
    const { calls } = mockFetch({
      "GET /api/connectors/{id}/catalog": catalog,
      "POST /api/profiles": { status: 400, body: { error: { code: "validation_failed", message: "Invalid profile.", fields: { "billing.tag": "is taken" } } } },
    });
    renderWithProviders(<ProfileForm connectors={connectors} />);
    const box = screen.getByLabelText("Tag billed tickets in Zammad");
    expect(box).not.toBeChecked();
    expect(screen.queryByLabelText("Billing tag")).toBeNull();
    await userEvent.click(box);
    const tag = screen.getByLabelText("Billing tag");
    expect(tag).toHaveValue("billed");
    expect(tag).toHaveAttribute("maxLength", "100");
    await userEvent.type(screen.getByLabelText("Name"), "Support");
    await userEvent.selectOptions(screen.getByLabelText("Zammad connector"), "z1");
    await userEvent.selectOptions(screen.getByLabelText("Kimai connector"), "k1");
    await userEvent.clear(tag);
    await userEvent.click(screen.getByRole("button", { name: "Save profile" }));
    expect(screen.getByLabelText("Billing tag")).toHaveAccessibleDescription(/Enter the tag billed tickets get/);
    await userEvent.type(screen.getByLabelText("Billing tag"), "paid,2026");
    await userEvent.click(screen.getByRole("button", { name: "Save profile" }));
    expect(screen.getByLabelText("Billing tag")).toHaveAccessibleDescription(/cannot contain a comma/);
    expect(calls.some((c) => c.method === "POST")).toBe(false);
    await userEvent.clear(screen.getByLabelText("Billing tag"));
    await userEvent.type(screen.getByLabelText("Billing tag"), " paid ");
    await userEvent.click(screen.getByRole("button", { name: "Save profile" }));
    await waitFor(() => expect(calls.some((c) => c.method === "POST")).toBe(true));
    expect(calls.find((c) => c.method === "POST")?.body).toMatchObject({ billing: { enabled: true, tag: "paid" } });
    // The server's problem with billing.tag shows next to the tag field.
    await waitFor(() => expect(screen.getByLabelText("Billing tag")).toHaveAccessibleDescription(/is taken/));
  });

  it("edits: shows the profile's billing and sends it in the patch", async () => {
    signIn();
    const p: Profile = {
      id: "p1", name: "Support", zammad_connector_id: "z1", kimai_connector_id: "k1", minutes_per_unit: "1", project_strategy: "customer",
      auto_create_customers: true, auto_create_projects: true, auto_create_activities: true, enabled: true, default_customer_id: 0,
      default_activity_id: 0, user_mode: "token", strict_users: false, deletion_window_days: 60, concurrency: 8, pace: "adaptive", interval_minutes: 15,
      tags: ["zammad"], webhook_url: "http://x/webhooks/zammad/p1", version: 4, created_at: "2025-01-01T00:00:00Z", updated_at: "2025-01-01T00:00:00Z",
      billing: { enabled: true, tag: "invoiced" },
    };
    const { calls } = mockFetch({ "GET /api/connectors/{id}/catalog": catalog, "PATCH /api/profiles/{id}": { body: { ...p, billing: { enabled: false, tag: "invoiced" }, version: 5 } } });
    renderWithProviders(<ProfileForm profile={p} connectors={connectors} />);
    expect(screen.getByLabelText("Tag billed tickets in Zammad")).toBeChecked();
    expect(screen.getByLabelText("Billing tag")).toHaveValue("invoiced");
    await userEvent.click(screen.getByLabelText("Tag billed tickets in Zammad"));
    expect(screen.queryByLabelText("Billing tag")).toBeNull();
    await userEvent.click(screen.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(calls.some((c) => c.method === "PATCH")).toBe(true));
    expect(calls.find((c) => c.method === "PATCH")?.body).toMatchObject({ version: 4, billing: { enabled: false, tag: "invoiced" } });
  });
});
