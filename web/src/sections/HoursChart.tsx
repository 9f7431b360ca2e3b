// Hours per day worked, for a profile card: an SVG bar chart with axes and
// value labels, a tooltip per bar, the same numbers as a table for keyboard
// and screen-reader users, and an empty state that says what to do.
import { useId, useState } from "react";
import type { DayTotal } from "../api/client";
import { fmtHours } from "../ui";

const W = 12; // px per day in the viewBox
const H = 80; // bar area height
const LEFT = 34; // room for the y-axis labels
const BOTTOM = 16; // room for the x-axis labels
const TOP = 6; // room for the top y-axis label

/** A round axis maximum (1, 2, 4, 8, 10, 12 … h) at or above the largest day. */
export function axisMax(maxHours: number): number {
  for (const m of [1, 2, 4, 6, 8, 10, 12, 16, 24]) if (maxHours <= m) return m;
  return Math.ceil(maxHours / 8) * 8;
}

/** "Mon 2 Mar" for a YYYY-MM-DD day, in the browser's language. */
export function dayLabel(day: string, withWeekday = true): string {
  const d = new Date(`${day}T12:00:00`);
  return d.toLocaleDateString(undefined, { ...(withWeekday ? { weekday: "short" } : {}), day: "numeric", month: "short" });
}

export function HoursChart({ days }: { days: DayTotal[] }) {
  const tableId = useId();
  const [hover, setHover] = useState<number | null>(null);
  const total = days.reduce((a, d) => a + d.seconds, 0);
  if (days.length === 0) return null;
  const range = `${dayLabel(days[0].day, false)} – ${dayLabel(days[days.length - 1].day, false)}`;
  if (total === 0) {
    return (
      <p className="muted small chart-empty" data-testid="hours-chart-empty">
        No synced time worked between {range}. Preview and apply a sync; the hours then appear here on the days they were worked.
      </p>
    );
  }
  const hours = days.map((d) => d.seconds / 3600);
  const top = axisMax(Math.max(...hours));
  const width = LEFT + days.length * W;
  const y = (h: number) => TOP + H - (h / top) * H;
  const ticks = [0, top / 2, top];
  const xTicks = [0, Math.floor((days.length - 1) / 2), days.length - 1];
  const shown = hover ?? hours.lastIndexOf(Math.max(...hours));
  return (
    <figure className="chart" data-testid="hours-chart">
      <svg viewBox={`0 0 ${width} ${TOP + H + BOTTOM}`} role="img" aria-labelledby={`${tableId}-cap`} aria-describedby={tableId}>
        {ticks.map((t) => (
          <g key={t} className="tick">
            <line x1={LEFT} x2={width} y1={y(t) + 0.5} y2={y(t) + 0.5} className={t === 0 ? "axis" : "grid"} />
            <text x={LEFT - 4} y={y(t) + 3} textAnchor="end" className="axis-label">
              {`${t} h`}
            </text>
          </g>
        ))}
        {hours.map((h, i) => (
          <rect
            key={days[i].day}
            x={LEFT + i * W + 1}
            y={y(h)}
            width={W - 2}
            height={TOP + H - y(h)}
            className={i === shown ? "bar bar-current" : "bar"}
            data-day={days[i].day}
            onMouseEnter={() => setHover(i)}
            onMouseLeave={() => setHover(null)}
          >
            <title>{`${dayLabel(days[i].day)}: ${fmtHours(days[i].seconds)} (${days[i].entries} entries)`}</title>
          </rect>
        ))}
        {xTicks.map((i) => (
          <text key={i} x={LEFT + i * W + W / 2} y={TOP + H + BOTTOM - 3} textAnchor={i === 0 ? "start" : i === days.length - 1 ? "end" : "middle"} className="axis-label">
            {dayLabel(days[i].day, false)}
          </text>
        ))}
      </svg>
      <figcaption id={`${tableId}-cap`} className="muted small">
        Hours per day worked, {range}: {fmtHours(total)} in total.{" "}
        <span aria-live="polite">
          {dayLabel(days[shown].day)}: {fmtHours(days[shown].seconds)} ({days[shown].entries} entries).
        </span>
      </figcaption>
      <details className="chart-table">
        <summary>Show as a table</summary>
        <table id={tableId} data-testid="hours-table">
          <caption className="sr-only">Synced hours per day worked, {range}</caption>
          <thead>
            <tr>
              <th scope="col">Day</th>
              <th scope="col">Entries</th>
              <th scope="col">Hours</th>
            </tr>
          </thead>
          <tbody>
            {days
              .filter((d) => d.seconds > 0)
              .map((d) => (
                <tr key={d.day}>
                  <th scope="row">{dayLabel(d.day)}</th>
                  <td>{d.entries}</td>
                  <td>{fmtHours(d.seconds)}</td>
                </tr>
              ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
