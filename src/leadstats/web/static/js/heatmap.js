// Hour-of-day × weekday heatmaps (local time of the report's zone) as plain tables: each cell holds its
// count as text and in data-value, and its shade comes from the CSS variable --v (0..1).

import { WEEKDAYS, fmtInt } from "./format.js";

const TITLES = { primary: "Actual leads", hot: "Hot leads" };
const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });

/** Fill a 7×24 grid (weekday 1..7 × hour 0..23) with `metric` from a report by weekday, hour_of_day. */
function heatGrid(rows, metric) {
  const grid = Array.from({ length: 7 }, () => new Array(24).fill(0));
  for (const r of rows) {
    if (r.weekday >= 1 && r.weekday <= 7 && r.hour_of_day >= 0 && r.hour_of_day <= 23) {
      grid[r.weekday - 1][r.hour_of_day] += r[metric];
    }
  }
  return grid;
}

export function renderHeatmap(table, rows, tz) {
  const metric = table.dataset.metric;
  const grid = heatGrid(rows, metric);
  const max = Math.max(1, ...grid.flat());
  const hours = Array.from({ length: 24 }, (_, h) => h);
  const head = `<caption>${TITLES[metric]} <span class="hint">(${tz}; darkest = ${fmtInt(max)})</span></caption>
    <thead><tr><td></td>${hours.map((h) => `<th scope="col" abbr="${h}:00">${String(h).padStart(2, "0")}</th>`).join("")}</tr></thead>`;
  const body = grid.map((counts, d) => `<tr><th scope="row">${WEEKDAYS[d]}</th>${counts.map((n, h) => {
    const v = n / max;
    const label = `${WEEKDAYS[d]} ${String(h).padStart(2, "0")}:00: ${fmtInt(n)} ${TITLES[metric].toLowerCase()}`;
    return `<td data-weekday="${d + 1}" data-hour="${h}" data-value="${n}" style="--v:${v.toFixed(3)}"${
      v > 0.55 ? ' class="dark"' : ""} title="${label}"><span class="visually-hidden">${label}</span><span aria-hidden="true">${
      n ? compact.format(n) : ""}</span></td>`;
  }).join("")}</tr>`);
  table.innerHTML = `${head}<tbody>${body.join("")}</tbody>`;
}
