import { describe, expect, it } from "vitest";
import { csvCell } from "./Audit";

describe("csvCell", () => {
  it("neutralises anything a spreadsheet would run as a formula", () => {
    for (const v of ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1+1", " =1+1", "\r=1", "＝1+1"]) {
      const cell = csvCell(v);
      expect(cell.startsWith(`"'`)).toBe(true);
    }
  });
  it("quotes separators and leaves plain text alone", () => {
    expect(csvCell("a,b")).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell("plain")).toBe("plain");
    expect(csvCell({ a: 1 })).toBe('"{""a"":1}"');
    expect(csvCell(null)).toBe("");
  });
});
