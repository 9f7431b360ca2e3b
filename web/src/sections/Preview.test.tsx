import { describe, expect, it, vi } from "vitest";
import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { PlannedChange, Run } from "../api/client";
import { PAGE_ROWS, PreviewPanel, planCsv } from "./Preview";

const row = (i: number, action: PlannedChange["action"]): PlannedChange => ({
  action,
  entry_id: i,
  ticket_id: 100 + i,
  ticket_number: String(31000 + i),
  customer: i % 2 ? "Acme" : "Globex",
  project: "Support",
  activity: "Remote",
  ...(action === "create" ? { after: { begin: "2026-03-02T09:00:00Z", end: "2026-03-02T09:30:00Z", duration: 1800, project: 1, activity: 2 } } : {}),
});

function run(plan: PlannedChange[]): Run {
  return {
    id: "01JQ7Z3M2Y8K4T6V9B1C5D7F0H", profile_id: "p", trigger: "manual", mode: "incremental", dry_run: true, status: "succeeded",
    queued_at: "2026-03-02T10:00:00Z", duration_ms: 10,
    counts: { seen: plan.length, created: 0, updated: 0, deleted: 0, unchanged: 0, skipped: 0, conflicts: 0, errors: 0 },
    plan,
    preview: {
      groups: [{ by: "customer", id: 4, name: "Acme", create: 60, update: 0, delete: 0, seconds: 108000 },
        { by: "customer", name: "Globex", create: 60, update: 0, delete: 0, seconds: 108000 }],
      creates: [{ kind: "customer", name: "Globex", entries: 60 }],
      conflicts: [{ kind: "unmapped_user", count: 1 }],
    },
  } as Run;
}

describe("PreviewPanel", () => {
  const plan = [...Array.from({ length: 120 }, (_, i) => row(i + 1, "create")), row(500, "conflict"), row(501, "unchanged")];

  it("shows the summary before any row, and Apply/Discard first", async () => {
    const onApply = vi.fn();
    render(<PreviewPanel run={run(plan)} applying={false} onApply={onApply} onDiscard={() => {}} />);
    const panel = screen.getByTestId("preview-panel");
    const order = [...panel.querySelectorAll("[data-testid]")].map((e) => e.getAttribute("data-testid"));
    expect(order.indexOf("apply-preview")).toBeLessThan(order.indexOf("preview-groups"));
    expect(order.indexOf("preview-groups")).toBeLessThan(order.indexOf("plan-table"));
    expect(screen.getByTestId("preview-creates")).toHaveTextContent("customer “Globex” for 60 entries");
    expect(screen.getByTestId("preview-conflicts")).toHaveTextContent("1 × unmapped user");
    expect(within(screen.getByTestId("preview-groups")).getByRole("row", { name: /Acme #4/ })).toHaveTextContent("+30 h");
    await userEvent.click(screen.getByTestId("apply-preview"));
    expect(onApply).toHaveBeenCalledOnce();
  });

  it("pages, filters and names rows by ticket number", async () => {
    render(<PreviewPanel run={run(plan)} applying={false} onApply={() => {}} onDiscard={() => {}} />);
    const table = screen.getByTestId("plan-table");
    expect(within(table).getAllByRole("row")).toHaveLength(PAGE_ROWS + 1);
    expect(table).toHaveTextContent("#31001");
    expect(screen.getByText(`Rows 1–${PAGE_ROWS} of 121`)).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Next" }));
    expect(screen.getByText(`Rows ${PAGE_ROWS + 1}–${2 * PAGE_ROWS} of 121`)).toBeInTheDocument();
    await userEvent.selectOptions(screen.getByLabelText("Show"), "conflict");
    expect(within(screen.getByTestId("plan-table")).getAllByRole("row")).toHaveLength(2);
    await userEvent.selectOptions(screen.getByLabelText("Show"), "changes");
    await userEvent.type(screen.getByLabelText("Find"), "31077");
    expect(within(screen.getByTestId("plan-table")).getAllByRole("row")).toHaveLength(2);
  });

  it("writes CSV with names and ids, defusing formulas", () => {
    const csv = planCsv([{ ...row(1, "create"), customer: "=HYPERLINK(1)" }]);
    const [head, line] = csv.trim().split("\r\n");
    expect(head).toBe("action,ticket,ticket_id,entry_id,timesheet_id,customer,project,activity,begin,seconds_before,seconds_after,conflict,reason");
    expect(line).toBe(`create,31001,101,1,,"'=HYPERLINK(1)",Support,Remote,2026-03-02T09:00:00Z,,1800,,`);
  });

  it("says when a preview failed and keeps Apply off", () => {
    render(<PreviewPanel run={{ ...run([]), status: "failed", error_detail: { class: "auth", message: "The Kimai token is invalid." } }} applying={false} onApply={() => {}} onDiscard={() => {}} />);
    expect(screen.getByRole("alert")).toHaveTextContent("The Kimai token is invalid.");
    expect(screen.getByTestId("apply-preview")).toBeDisabled();
  });

  it("links each ticket to Zammad by its number and each timesheet to Kimai, in a new tab", () => {
    const rows: PlannedChange[] = [
      { ...row(1, "update"), timesheet_id: 4711 },
      { action: "create", entry_id: 2, ticket_id: 77 },
    ];
    render(
      <PreviewPanel run={run(rows)} applying={false} onApply={() => {}} onDiscard={() => {}} bases={{ zammad: "https://help.example.com/", kimai: "https://time.example.com" }} />,
    );
    const table = screen.getByTestId("plan-table");
    const ticket = within(table).getByRole("link", { name: "#31001 in Zammad (opens in a new tab)" });
    // The link goes to the ticket's internal id; people see its number.
    expect(ticket).toHaveAttribute("href", "https://help.example.com/#ticket/zoom/101");
    expect(ticket).toHaveAttribute("target", "_blank");
    expect(ticket).toHaveAttribute("rel", "noopener noreferrer");
    const sheet = within(table).getByRole("link", { name: "#4711 in Kimai (opens in a new tab)" });
    expect(sheet).toHaveAttribute("href", "https://time.example.com/timesheet/4711/edit");
    expect(sheet).toHaveAttribute("rel", "noopener noreferrer");
    // Without Zammad's number the id is said as an id, never as "#77".
    expect(within(table).getByRole("link", { name: "ticket id 77 in Zammad (opens in a new tab)" })).toHaveAttribute("href", "https://help.example.com/#ticket/zoom/77");
    expect(table).not.toHaveTextContent("#77");
  });
});
