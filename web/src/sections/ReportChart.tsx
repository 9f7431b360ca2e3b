// Zammad against Kimai per day worked, for the Reports page: paired bars in
// an SVG with axes and value labels, a tooltip per day, the same numbers as a
// table for keyboard and screen-reader users, and an empty state that says
// what to do. (The approach of HoursChart, for two series.)
import { useId, useState } from "react";
import type { ReportDay } from "../api/client";
import { axisMax, dayLabel } from "./HoursChart";
import { hours1 } from "./pageUtil";

const SPAN = 840; // the days' width in the viewBox, whatever their number (a week or a year)
const H = 90; // bar area height
const LEFT = 34; // room for the y-axis labels
const BOTTOM = 16; // room for the x-axis labels
const TOP = 6; // room for the top y-axis label

export function dayTitle(d: ReportDay): string {
  const diff = d.zammad_seconds - d.kimai_seconds;
  return `${dayLabel(d.day)}: Zammad ${hours1(d.zammad_seconds)}, Kimai ${hours1(d.kimai_seconds)}${diff ? `, difference ${hours1(diff)}` : ""}`;
}

export function ReportChart({ days }: { days: ReportDay[] }) {
  const tableId = useId();
  const [hover, setHover] = useState<number | null>(null);
  if (days.length === 0) return null;
  const zTotal = days.reduce((a, d) => a + d.zammad_seconds, 0);
  const kTotal = days.reduce((a, d) => a + d.kimai_seconds, 0);
  const range = `${dayLabel(days[0].day, false)} – ${dayLabel(days[days.length - 1].day, false)}`;
  if (zTotal === 0 && kTotal === 0) {
    return (
      <p className="muted small chart-empty" data-testid="report-chart-empty">
        No time was booked in Zammad or held in Kimai between {range} for this profile. Choose another period, or sync the profile from the
        Dashboard if Zammad has time in it.
      </p>
    );
  }
  const top = axisMax(Math.max(...days.map((d) => Math.max(d.zammad_seconds, d.kimai_seconds) / 3600)));
  // At least 14 units a day; a short period spreads its days over the span.
  const W = Math.max(14, Math.floor(SPAN / days.length));
  const BAR = Math.min(24, (W - 3) / 2); // two bars a day, centred
  const pad = (W - 2 * BAR) / 2;
  const width = LEFT + days.length * W;
  const y = (seconds: number) => TOP + H - (Math.max(0, seconds) / 3600 / top) * H;
  const ticks = [0, top / 2, top];
  const xTicks = [...new Set([0, Math.floor((days.length - 1) / 2), days.length - 1])];
  const shown = hover ?? days.reduce((best, d, i) => (d.zammad_seconds > days[best].zammad_seconds ? i : best), 0);
  return (
    <figure className="chart report-chart" data-testid="report-chart">
      <ul className="legend small" aria-hidden="true">
        <li>
          <span className="swatch swatch-zammad" /> Zammad
        </li>
        <li>
          <span className="swatch swatch-kimai" /> Kimai
        </li>
      </ul>
      <svg viewBox={`0 0 ${width} ${TOP + H + BOTTOM}`} role="img" aria-labelledby={`${tableId}-cap`} aria-describedby={tableId}>
        {ticks.map((t) => (
          <g key={t} className="tick">
            <line x1={LEFT} x2={width} y1={y(t * 3600) + 0.5} y2={y(t * 3600) + 0.5} className={t === 0 ? "axis" : "grid"} />
            <text x={LEFT - 4} y={y(t * 3600) + 3} textAnchor="end" className="axis-label">
              {`${t} h`}
            </text>
          </g>
        ))}
        {days.map((d, i) => (
          <g
            key={d.day}
            className={i === shown ? "day day-current" : "day"}
            data-day={d.day}
            onMouseEnter={() => setHover(i)}
            onMouseLeave={() => setHover(null)}
          >
            <title>{dayTitle(d)}</title>
            {/* the whole day column answers the pointer, not only the bars */}
            <rect x={LEFT + i * W} y={TOP} width={W} height={H} className="day-hit" />
            <rect x={LEFT + i * W + pad} y={y(d.zammad_seconds)} width={BAR} height={TOP + H - y(d.zammad_seconds)} className="bar bar-zammad" />
            <rect x={LEFT + i * W + pad + BAR} y={y(d.kimai_seconds)} width={BAR} height={TOP + H - y(d.kimai_seconds)} className="bar bar-kimai" />
          </g>
        ))}
        {xTicks.map((i) => (
          <text
            key={i}
            x={LEFT + i * W + W / 2}
            y={TOP + H + BOTTOM - 3}
            textAnchor={i === 0 ? "start" : i === days.length - 1 ? "end" : "middle"}
            className="axis-label"
          >
            {dayLabel(days[i].day, false)}
          </text>
        ))}
      </svg>
      <figcaption id={`${tableId}-cap`} className="muted small">
        Hours per day worked, {range}: Zammad {hours1(zTotal)}, Kimai {hours1(kTotal)}.{" "}
        <span aria-live="polite">{dayTitle(days[shown])}.</span>
      </figcaption>
      <details className="chart-table">
        <summary>Show as a table</summary>
        <table id={tableId} data-testid="report-days-table">
          <caption className="sr-only">Zammad and Kimai hours per day worked, {range}</caption>
          <thead>
            <tr>
              <th scope="col">Day</th>
              <th scope="col">Zammad</th>
              <th scope="col">Kimai</th>
              <th scope="col">Difference</th>
            </tr>
          </thead>
          <tbody>
            {days
              .filter((d) => d.zammad_seconds !== 0 || d.kimai_seconds !== 0)
              .map((d) => (
                <tr key={d.day}>
                  <th scope="row">{dayLabel(d.day)}</th>
                  <td>{hours1(d.zammad_seconds)}</td>
                  <td>{hours1(d.kimai_seconds)}</td>
                  <td>{hours1(d.zammad_seconds - d.kimai_seconds)}</td>
                </tr>
              ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
