// Fails when src/api/schema.d.ts differs from what openapi-typescript generates
// from ../shared/api/openapi.json, so the console and the API cannot drift.
// Fix: npm run gen:api and commit the result.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dir = mkdtempSync(join(tmpdir(), "tb-api-"));
const out = join(dir, "schema.d.ts");
try {
  execFileSync(
    process.execPath,
    [join(root, "node_modules/openapi-typescript/bin/cli.js"), join(root, "../shared/api/openapi.json"), "-o", out],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  const want = readFileSync(out, "utf8");
  let have = "";
  try {
    have = readFileSync(join(root, "src/api/schema.d.ts"), "utf8");
  } catch {
    /* missing counts as different */
  }
  if (want !== have) {
    console.error("check:api: src/api/schema.d.ts is out of date with shared/api/openapi.json — run `npm run gen:api` and commit it.");
    process.exit(1);
  }
  console.log("check:api: src/api/schema.d.ts matches shared/api/openapi.json");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
