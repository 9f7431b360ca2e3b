import { describe, expect, it } from "vitest";
import { csvCell } from "../ui";
import { plain } from "../ui";

describe("csvCell", () => {
  it("neutralises anything a spreadsheet would run as a formula", () => {
    for (const v of [
      "=1+1", "+1", "-1", "@SUM(A1)", "\t=1+1", " =1+1", "\r=1", "＝1+1",
      // hidden in front: zero-width, word joiner, BOM, bidi overrides and isolates, soft hyphen
      "\u200b=1+1", "\u200d\u2060=HYPERLINK(\"x\")", "\ufeff=1", "\u202e=1", "\u2066+1", "\u200f@SUM(A1)", "\u00ad-1",
    ]) {
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

describe("plain", () => {
  it("shows bidirectional controls instead of obeying them", () => {
    expect(plain("invoice\u202egpj.exe")).toBe("invoice⟪U+202E⟫gpj.exe");
    expect(plain("\u2066a\u2069 \u200fb")).toBe("⟪U+2066⟫a⟪U+2069⟫ ⟪U+200F⟫b");
    expect(plain("Müller GmbH")).toBe("Müller GmbH");
    expect(plain(undefined)).toBe("");
  });
});
