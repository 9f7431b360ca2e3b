// judgeAudit decides on an `npm audit --json` report: ok unless it lists a
// high or critical advisory, or (with required) the audit could not be made.
export function judgeAudit(report, required) {
  const counts = report?.metadata?.vulnerabilities;
  if (!counts) {
    const why = report?.message ?? report?.error?.summary ?? JSON.stringify(report).slice(0, 300);
    const msg = `npm audit could not be made: the registry's audit endpoint did not answer (${why}).`;
    if (required) return { ok: false, lines: [`${msg} TIMEBRIDGE_REQUIRE_AUDIT=1: failing.`] };
    return {
      ok: true,
      lines: [`WARNING: ${msg} Skipped here; it runs where the registry is reachable (TIMEBRIDGE_REQUIRE_AUDIT=1 makes this fatal).`],
    };
  }
  const lines = [
    `npm audit (--omit=dev): ${counts.total ?? 0} advisories: ${counts.critical ?? 0} critical, ${counts.high ?? 0} high, ` +
      `${counts.moderate ?? 0} moderate, ${counts.low ?? 0} low`,
  ];
  for (const [name, v] of Object.entries(report.vulnerabilities ?? {})) {
    if (v.severity === "high" || v.severity === "critical") {
      lines.push(`  ${v.severity}: ${name} ${v.range ?? ""} (fix available: ${JSON.stringify(v.fixAvailable)})`);
    }
  }
  return { ok: (counts.high ?? 0) + (counts.critical ?? 0) === 0, lines };
}
