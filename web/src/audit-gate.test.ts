import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain ES module without types (web/scripts).
import { judgeAudit } from "../scripts/judge-audit.mjs";

const report = (high: number, critical: number) => ({
  metadata: { vulnerabilities: { info: 0, low: 1, moderate: 2, high, critical, total: 3 + high + critical } },
  vulnerabilities: high ? { "some-lib": { severity: "high", range: "<1.2.3", fixAvailable: true } } : {},
});
const unreachable = { message: "405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk", statusCode: 405 };

describe("npm audit gate (make web-audit)", () => {
  it("passes without high or critical advisories", () => {
    expect(judgeAudit(report(0, 0), true).ok).toBe(true);
  });
  it("fails on a high or a critical advisory and names it", () => {
    const v = judgeAudit(report(1, 0), false);
    expect(v.ok).toBe(false);
    expect(v.lines.join("\n")).toContain("high: some-lib <1.2.3");
    expect(judgeAudit(report(0, 1), false).ok).toBe(false);
  });
  it("skips loudly where the audit endpoint is missing, fails when required", () => {
    const skipped = judgeAudit(unreachable, false);
    expect(skipped.ok).toBe(true);
    expect(skipped.lines[0]).toMatch(/^WARNING: npm audit could not be made.*405/);
    expect(judgeAudit(unreachable, true).ok).toBe(false);
  });
});
