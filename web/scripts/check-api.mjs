// Fails when src/api/schema.d.ts or src/api/limits.gen.ts differs from what
// openapi-typescript and scripts/gen-limits.mjs generate from
// ../shared/api/openapi.json, so the console and the API cannot drift.
// Fix: npm run gen:api and commit the result.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { limitsPath, limitsSource, openapiPath } from "./gen-limits.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dir = mkdtempSync(join(tmpdir(), "tb-api-"));
const out = join(dir, "schema.d.ts");

function read(path) {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return ""; // missing counts as different
  }
}

try {
  execFileSync(process.execPath, [join(root, "node_modules/openapi-typescript/bin/cli.js"), openapiPath, "-o", out], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  const stale = [];
  if (readFileSync(out, "utf8") !== read(join(root, "src/api/schema.d.ts"))) stale.push("src/api/schema.d.ts");
  if (limitsSource(JSON.parse(readFileSync(openapiPath, "utf8"))) !== read(limitsPath)) stale.push("src/api/limits.gen.ts");
  if (stale.length > 0) {
    console.error(`check:api: ${stale.join(" and ")} out of date with shared/api/openapi.json — run \`npm run gen:api\` and commit it.`);
    process.exit(1);
  }
  console.log("check:api: src/api/schema.d.ts and src/api/limits.gen.ts match shared/api/openapi.json");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
