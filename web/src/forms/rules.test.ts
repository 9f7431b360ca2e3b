import { describe, expect, it } from "vitest";
import { schemaLimits } from "../api/limits";
import { decimalWithin, isOneOf } from "./rules";

describe("decimalWithin", () => {
  // minutes_per_unit's range comes from openapi.json (exclusiveMinimum 0, maximum 1440).
  const lim = schemaLimits.ProfileInput.minutes_per_unit;

  it.each([
    ["1", true],
    ["0.25", true],
    [" 15 ", true],
    [String(lim.maximum), true],
    ["0", false],
    ["0.0", false],
    [String(lim.maximum + 0.01), false],
    ["-1", false],
    ["1e3", false],
    [".5", false],
    ["abc", false],
    ["", false],
  ])("%j → %s", (s, ok) => {
    expect(decimalWithin(s, lim)).toBe(ok);
  });

  it("reads the range from the spec, not from a copy", () => {
    expect(lim).toMatchObject({ exclusiveMinimum: 0, maximum: 1440 });
  });
});

describe("isOneOf", () => {
  const actions = schemaLimits.ResolveRequest.action.enum;
  it("accepts the schema's values only", () => {
    expect(isOneOf(actions, "keep_kimai")).toBe(true);
    expect(isOneOf(actions, "delete_everything")).toBe(false);
    expect(isOneOf(actions, "")).toBe(false);
  });
});
