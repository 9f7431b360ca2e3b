import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { ConflictCard, ConflictGroup, Conflicts } from "./Conflicts";
import { mockFetch, renderWithProviders, signIn } from "../test/helpers";
import type { Conflict } from "../api/client";

function conflict(entry: number, over: Partial<Conflict> = {}): Conflict {
  return {
    id: `p1.${entry}`, profile_id: "p1", entry_id: entry, ticket_id: 7, kind: "edited_in_kimai", status: "open",
    message: "The timesheet was changed in Kimai after Timebridge wrote it.", created_at: "2025-03-01T10:00:00Z",
    updated_at: "2025-03-01T10:00:00Z", version: 1, actions: ["use_zammad", "keep_kimai", "skip"],
    zammad: { entry_id: entry, ticket_id: 7, ticket_number: "31007", ticket_title: "Printer on fire", time_unit: "45.0", type_id: 3, agent_id: 2, created_at: "2025-03-01T09:00:00Z" },
    kimai: { id: 900 + entry, begin: "2025-03-01T08:15:00Z", end: "2025-03-01T09:00:00Z", duration: 3600, project: 4, activity: 5, description: "edited by hand" },
    desired: { begin: "2025-03-01T08:15:00Z", end: "2025-03-01T09:00:00Z", duration: 2700, project: 4, activity: 5 },
    ...over,
  };
}

describe("conflict view", () => {
  it("shows the Zammad side and the Kimai side next to each other", () => {
    mockFetch({});
    renderWithProviders(<ConflictCard c={conflict(11)} />);
    const card = screen.getByTestId("conflict-card");
    expect(card).toHaveAttribute("data-entry", "11");
    const z = within(card).getByLabelText("Zammad side");
    const k = within(card).getByLabelText("Kimai side");
    expect(z).toHaveTextContent("45.0");
    expect(z).toHaveTextContent("0.75 h"); // what Timebridge would write
    expect(k).toHaveTextContent("#911");
    expect(k).toHaveTextContent("1 h");
    expect(k).toHaveTextContent("edited by hand");
    expect(card).toHaveTextContent("Printer on fire");
  });

  it("links the ticket (by its number) to Zammad and the timesheets to Kimai, in a new tab", () => {
    mockFetch({});
    const bases = { zammad: "https://help.example.com", kimai: "https://time.example.com/" };
    renderWithProviders(<ConflictCard c={conflict(15, { duplicates: [1001, 1002] })} bases={bases} />);
    const card = screen.getByTestId("conflict-card");
    const ticket = within(card).getByRole("link", { name: "Ticket #31007 in Zammad (opens in a new tab)" });
    expect(ticket).toHaveAttribute("href", "https://help.example.com/#ticket/zoom/7");
    expect(ticket).toHaveAttribute("target", "_blank");
    expect(ticket).toHaveAttribute("rel", "noopener noreferrer");
    const k = within(card).getByLabelText("Kimai side");
    expect(within(k).getByRole("link", { name: "#915 in Kimai (opens in a new tab)" })).toHaveAttribute("href", "https://time.example.com/timesheet/915/edit");
    expect(within(k).getByRole("link", { name: "#1002 in Kimai (opens in a new tab)" })).toHaveAttribute("href", "https://time.example.com/timesheet/1002/edit");
    // A ticket without Zammad's number is named by its id, said as an id.
    renderWithProviders(<ConflictCard c={conflict(16, { zammad: undefined })} bases={bases} />);
    const second = screen.getAllByTestId("conflict-card")[1];
    expect(within(second).getByRole("heading", { level: 4 })).toHaveTextContent(/^Ticket id 7 in Zammad \(opens in a new tab\) · entry 16/);
  });

  it("names the agent, the type and the Kimai records, with their ids as secondary text", () => {
    mockFetch({});
    renderWithProviders(
      <ConflictCard c={conflict(13, { names: { agent: "Chris Miller", type: "Remote support", customer: "Acme", project: "Acme support", activity: "Support" } })} />,
    );
    const z = within(screen.getByTestId("conflict-card")).getByLabelText("Zammad side");
    expect(z).toHaveTextContent("Remote support #3 / Chris Miller #2");
    expect(z).toHaveTextContent("Acme");
    expect(z).toHaveTextContent("Acme support #4 / Support #5");
    // Without names (an older conflict): ids, said as such.
    renderWithProviders(<ConflictCard c={conflict(14)} />);
    const old = within(screen.getAllByTestId("conflict-card")[1]).getByLabelText("Zammad side");
    expect(old).toHaveTextContent("type #3 / agent #2");
    expect(old).toHaveTextContent("project #4 / activity #5");
  });

  it("offers only the actions the conflict allows and resolves through the API", async () => {
    signIn();
    const { calls } = mockFetch({ "POST /api/conflicts/{id}/resolve": (c) => ({ body: { ...conflict(12), status: "resolved", actions: [], resolution: (c.body as { action: string }).action } }) });
    renderWithProviders(<ConflictCard c={conflict(12, { kind: "deleted_in_zammad", actions: ["keep_kimai", "retry"] })} />);
    expect(screen.getByTestId("resolve-keep_kimai")).toBeInTheDocument();
    expect(screen.getByTestId("resolve-retry")).toBeInTheDocument();
    expect(screen.queryByTestId("resolve-use_zammad")).toBeNull();
    expect(screen.queryByTestId("resolve-skip")).toBeNull();
    await userEvent.click(screen.getByTestId("resolve-keep_kimai"));
    await waitFor(() => expect(calls).toHaveLength(1));
    expect(calls[0]).toMatchObject({ method: "POST", url: "/api/conflicts/p1.12/resolve", body: { action: "keep_kimai" } });
    expect(await screen.findByTestId("toast")).toHaveTextContent("Entry 12: Keep Kimai — resolved");
  });

  it("bulk-resolves a group with an action every conflict allows, one API call per conflict", async () => {
    signIn();
    let n = 0;
    const { calls } = mockFetch({
      "POST /api/conflicts/{id}/resolve": () => (++n === 2 ? { status: 409, body: { error: { code: "conflict", message: "This conflict is already resolved.", fields: {} } } } : { body: conflict(1) }),
    });
    const items = [conflict(1), conflict(2, { actions: ["use_zammad", "skip"] }), conflict(3)];
    renderWithProviders(<ConflictGroup kind="edited_in_kimai" items={items} />);
    const group = screen.getByTestId("conflict-group");
    expect(group).toHaveAttribute("data-kind", "edited_in_kimai");
    const select = within(group).getByLabelText("Resolve all 3 with");
    // keep_kimai is not allowed by conflict 2, so it is not offered for the group.
    expect(within(select).queryByText("Keep Kimai")).toBeNull();
    await userEvent.selectOptions(select, "skip");
    await userEvent.click(within(group).getByTestId("bulk-resolve"));
    await waitFor(() => expect(calls).toHaveLength(3));
    expect(calls.map((c) => c.url)).toEqual(["/api/conflicts/p1.1/resolve", "/api/conflicts/p1.2/resolve", "/api/conflicts/p1.3/resolve"]);
    expect(calls.every((c) => (c.body as { action: string }).action === "skip")).toBe(true);
    const toasts = await screen.findAllByTestId("toast");
    await waitFor(() => expect(screen.getAllByTestId("toast")).toHaveLength(2));
    expect(toasts[0]).toHaveTextContent("Skip: 2 of 3 conflicts resolved.");
    expect(screen.getAllByTestId("toast")[1]).toHaveTextContent("1 failed — entry 2: This conflict is already resolved.");
  });

  it("groups open conflicts by kind and lists resolved history", async () => {
    signIn();
    mockFetch({
      "GET /api/conflicts": (c) =>
        c.url.includes("status=open")
          ? { body: { items: [conflict(1), conflict(2, { kind: "unmapped_activity", actions: ["retry", "skip"] }), conflict(3)] } }
          : { body: { items: [conflict(9, { status: "resolved", actions: [], resolution: "use_zammad", resolved_by: "admin", resolved_at: "2025-03-02T10:00:00Z" })] } },
      "GET /api/profiles": { body: { items: [] } },
    });
    renderWithProviders(<Conflicts />);
    const groups = await screen.findAllByTestId("conflict-group");
    expect(groups.map((g) => g.getAttribute("data-kind"))).toEqual(["edited_in_kimai", "unmapped_activity"]);
    expect(within(groups[0]).getAllByTestId("conflict-card")).toHaveLength(2);
    await waitFor(() => expect(screen.getByText(/Resolved history \(1\)/)).toBeInTheDocument());
    expect(screen.getByRole("heading", { level: 2, name: "Conflicts" })).toBeInTheDocument();
  });
});
