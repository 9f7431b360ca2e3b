import { describe, expect, it } from "vitest";
import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { HoursChart, axisMax } from "./HoursChart";

const days = (secs: number[]) => secs.map((s, i) => ({ day: `2026-03-${String(i + 1).padStart(2, "0")}`, entries: s > 0 ? 1 : 0, seconds: s }));

describe("HoursChart", () => {
  it("puts the hours on the days worked, with axes and a table", async () => {
    render(<HoursChart days={days([0, 3600, 0, 9000, 0])} />);
    const fig = screen.getByTestId("hours-chart");
    const bars = fig.querySelectorAll("rect.bar");
    expect(bars).toHaveLength(5);
    const heights = [...bars].map((b) => Number(b.getAttribute("height")));
    expect(heights[0]).toBe(0);
    expect(heights[3]).toBeGreaterThan(heights[1]); // 2.5 h > 1 h
    expect(fig.querySelector('rect[data-day="2026-03-04"] title')?.textContent).toMatch(/2\.50 h \(1 entries\)/);
    // y axis up to a round maximum, labelled
    expect([...fig.querySelectorAll("text.axis-label")].map((t) => t.textContent)).toEqual(expect.arrayContaining(["0 h", "2 h", "4 h"]));
    expect(fig).toHaveTextContent("3.50 h in total");
    // the table alternative lists the days with time, reachable by keyboard
    await userEvent.tab();
    expect(screen.getByText("Show as a table")).toHaveFocus();
    await userEvent.keyboard("{Enter}");
    const rows = within(screen.getByTestId("hours-table")).getAllByRole("row");
    expect(rows).toHaveLength(3); // header + 2 days
    expect(rows[2]).toHaveTextContent("2.50 h");
  });

  it("says what to do when nothing was worked in the period", () => {
    render(<HoursChart days={days([0, 0, 0])} />);
    expect(screen.queryByTestId("hours-chart")).toBeNull();
    expect(screen.getByTestId("hours-chart-empty")).toHaveTextContent(/Preview and apply a sync/);
  });

  it.each([
    [0.2, 1],
    [1, 1],
    [1.5, 2],
    [7, 8],
    [13, 16],
    [30, 32],
  ])("axisMax(%s) = %s", (h, m) => expect(axisMax(h)).toBe(m));
});
