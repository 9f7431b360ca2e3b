// CSV for spreadsheets: cells quoted where needed and defused where a
// spreadsheet would read them as a formula; a download without a server
// round trip.

// A cell a spreadsheet could read as a formula: =, +, -, @ (also their
// full-width forms) after optional leading whitespace, control characters,
// zero-width characters (U+200B–U+200D, U+2060–U+2064, U+FEFF, U+180E) or
// bidirectional controls (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069),
// which a spreadsheet may skip while the eye does not see them.
const formulaStart =
  /^[\s\u0000-\u001f\u007f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*[=+\-@\uff1d\uff0b\uff0d\uff20]/;

/** One CSV cell (objects as JSON). */
export function csvCell(v: unknown): string {
  const raw = v === undefined || v === null ? "" : typeof v === "string" ? v : JSON.stringify(v);
  const s = formulaStart.test(raw) ? "'" + raw : raw;
  return /[",\n\r\t]/.test(s) || s !== raw ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Rows (the first is the header) as CSV text with CRLF line ends. */
export function toCsv(rows: unknown[][]): string {
  return rows.map((r) => r.map(csvCell).join(",")).join("\r\n") + "\r\n";
}

/** Offers text as a CSV file download. */
export function downloadCsv(filename: string, text: string) {
  const blob = new Blob([text], { type: "text/csv;charset=utf-8" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
