// The Zammad token permissions the connector test checks, read from the Go
// source (ZammadPermissions in shared/probe/probe.go), so that a test can
// hold the console's token hint to the same list.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const probePath = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "shared", "probe", "probe.go");

/** The list, or null when probe.go no longer declares it on one line. */
export function zammadPermissionsOfProbe(source = readFileSync(probePath, "utf8")) {
  const m = source.match(/^var ZammadPermissions = \[\]string\{([^}]*)\}/m);
  return m ? [...m[1].matchAll(/"([^"]+)"/g)].map((x) => x[1]) : null;
}
