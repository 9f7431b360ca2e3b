// Helpers the run page, the runs list and the Reports page share: days in
// the browser's calendar, hours as people read them, and in-app navigation
// (the router listens to popstate).

/** YYYY-MM-DD of a time in the browser's calendar. */
export function localDay(t: Date | number = new Date()): string {
  const d = new Date(t);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

/** Whether s is a real day written YYYY-MM-DD. */
export function isDay(s: string | null | undefined): s is string {
  if (!s || !/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  const d = new Date(`${s}T12:00:00`);
  return !Number.isNaN(d.getTime()) && localDay(d) === s;
}

/** The day n days after day (n may be negative). */
export function addDays(day: string, n: number): string {
  const d = new Date(`${day}T12:00:00`);
  d.setDate(d.getDate() + n);
  return localDay(d);
}

/** The first instant of a day in the browser's zone, as RFC 3339 (UTC). */
export function dayStart(day: string): string {
  return new Date(`${day}T00:00:00`).toISOString();
}

/** The current month up to today ({from, to}, inclusive days). */
export function thisMonth(now = new Date()): { from: string; to: string } {
  return { from: localDay(new Date(now.getFullYear(), now.getMonth(), 1, 12)), to: localDay(now) };
}

/** The whole previous month. */
export function lastMonth(now = new Date()): { from: string; to: string } {
  return {
    from: localDay(new Date(now.getFullYear(), now.getMonth() - 1, 1, 12)),
    to: localDay(new Date(now.getFullYear(), now.getMonth(), 0, 12)),
  };
}

/** The last n days, today included. */
export function lastDays(n: number, now = new Date()): { from: string; to: string } {
  const today = localDay(now);
  return { from: addDays(today, -(n - 1)), to: today };
}

/** Hours with one decimal: "12.5 h" (−0.5 h for a negative time). */
export function hours1(seconds: number): string {
  const h = Math.abs(seconds) / 3600;
  const text = `${h.toFixed(1)} h`;
  return seconds < 0 && h.toFixed(1) !== "0.0" ? `−${text}` : text;
}

/** Exact minutes, for a title: "750 min" (one decimal when not whole). */
export function minutes(seconds: number): string {
  const m = seconds / 60;
  return `${Number.isInteger(m) ? m : m.toFixed(1)} min`;
}

/** Milliseconds as "1 h 02 min 05 s" / "2 min 05 s" / "7 s". */
export function clock(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const pad = (n: number) => String(n).padStart(2, "0");
  if (h > 0) return `${h} h ${pad(m)} min ${pad(sec)} s`;
  if (m > 0) return `${m} min ${pad(sec)} s`;
  return `${sec} s`;
}

/** Moves the console to path without a reload: the router handles popstate. */
export function navigate(path: string): void {
  history.pushState({}, "", path);
  window.dispatchEvent(new PopStateEvent("popstate"));
}

/** A Zammad ticket's page: <base_url>/#ticket/zoom/<ticket_id>. */
export function zammadTicketUrl(baseUrl: string, ticketId: number): string {
  return `${baseUrl.replace(/\/+$/, "")}/#ticket/zoom/${ticketId}`;
}

