// npm audit of what the console ships (--omit=dev: the bundle's runtime
// dependencies), failing on any high or critical advisory.
//
// Where the registry has no audit endpoint (a mirror or proxy that allows
// only GET and HEAD answers the bulk advisory POST with 405), the audit
// cannot be made: that is reported loudly and the check passes, unless
// TIMEBRIDGE_REQUIRE_AUDIT=1 (set it where the public registry is
// reachable, e.g. in GitHub Actions) makes it fail instead.
import { spawnSync } from "node:child_process";
import { judgeAudit } from "./judge-audit.mjs";

const res = spawnSync("npm", ["audit", "--omit=dev", "--json"], { encoding: "utf8", maxBuffer: 64 << 20 });
let report;
try {
  report = JSON.parse(res.stdout);
} catch {
  console.error(`npm audit: no JSON answer (exit ${res.status}):\n${res.stdout}\n${res.stderr}`);
  process.exit(1);
}
const verdict = judgeAudit(report, process.env.TIMEBRIDGE_REQUIRE_AUDIT === "1");
for (const line of verdict.lines) (verdict.ok ? console.warn : console.error)(line);
process.exit(verdict.ok ? 0 : 1);
