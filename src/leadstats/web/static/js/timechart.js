// The stacked time chart (received by type, with hot / VPN / suspicious as lines), drawn with the
// vendored uPlot. The plotted numbers are also written to the DOM: a JSON data-series attribute on the
// figure and a table under a <details>, for screen readers and for tests.

import { TYPE_LABELS, bucketLabel, escapeHtml, fmtInt } from "./format.js";

const STACKED = ["primary", "follow_up", "test", "blocked", "bot"];
const LINES = [
  { key: "hot", dash: [] },
  { key: "vpn", dash: [6, 3] },
  { key: "suspicious", dash: [2, 3] },
];
const SERIES = [...STACKED, ...LINES.map((l) => l.key)];
const HEIGHT = 320;
// Tick steps for whole numbers: bucket indexes on x, counts on y.
const INDEX_STEPS = [1, 2, 3, 4, 6, 8, 12, 16, 24, 48, 96, 192, 384, 768, 1536, 3072, 6144];
const COUNT_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6];

let plot = null;
const resizer = new ResizeObserver((entries) => {
  if (plot) plot.setSize({ width: Math.floor(entries[0].contentRect.width), height: HEIGHT });
});

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// Partial buckets: the first bucket can start before the window (a 1w report from a Tuesday starts on the
// Monday) and the last can end after it. They are marked "*" on the axis and "(partial)" in the table.
function nextBoundary(start, bucket) {
  const fixed = /^(\d+)(m|h)$/.exec(bucket);
  if (fixed) return { at: Date.parse(start) + Number(fixed[1]) * (fixed[2] === "h" ? 3600e3 : 60e3) };
  const [y, m, d] = start.slice(0, 10).split("-").map(Number);
  const next = bucket === "1mo" ? new Date(Date.UTC(y, m, 1)) : new Date(Date.UTC(y, m - 1, d + (bucket === "1w" ? 7 : 1)));
  return { wall: `${next.toISOString().slice(0, 10)}T00:00:00` }; // local wall clock, like query.to
}

export function partialStarts(result, bucket) {
  const rows = result.rows;
  const q = result.query;
  if (!rows.length || !q || !q.from || !q.to) return new Set();
  const out = new Set();
  const first = rows[0].bucket_start;
  const last = rows[rows.length - 1].bucket_start;
  if (Date.parse(first) < Date.parse(q.from)) out.add(first);
  const end = nextBoundary(last, bucket);
  if (end.at !== undefined ? end.at > Date.parse(q.to) : end.wall > q.to.slice(0, 19)) out.add(last);
  return out;
}

function renderTable(table, rows, bucket, partial = new Set()) {
  const keys = ["received", ...SERIES];
  const note = partial.size ? "; * partial bucket: the window covers only part of it" : "";
  const head = `<caption>Leads per bucket (${escapeHtml(bucket)})${note}</caption><thead><tr><th scope="col">Bucket start</th>${
    keys.map((k) => `<th scope="col">${k === "received" ? "Received" : TYPE_LABELS[k]}</th>`).join("")
  }</tr></thead>`;
  const body = rows.map((r) => `<tr${partial.has(r.bucket_start) ? ' class="partial"' : ""}><th scope="row">${
    escapeHtml(r.bucket_start)}${partial.has(r.bucket_start) ? " (partial)" : ""}</th>${
    keys.map((k) => `<td>${fmtInt(r[k])}</td>`).join("")
  }</tr>`);
  table.innerHTML = `${head}<tbody>${body.join("")}</tbody>`;
}

function drawChart(box, rows, bucket, partial = new Set()) {
  const text = cssVar("--fg-muted");
  const grid = cssVar("--grid");
  const labels = rows.map((r) => bucketLabel(r.bucket_start, bucket) + (partial.has(r.bucket_start) ? "*" : ""));
  // Bars are stacked by drawing cumulative totals from the top layer down, each lower layer over the
  // one above it; the legend shows each layer's own count.
  const tops = [];
  let acc = rows.map(() => 0);
  for (const key of STACKED) {
    acc = acc.map((a, i) => a + rows[i][key]);
    tops.push(acc);
  }
  const layers = [...STACKED.keys()].reverse();
  const bars = window.uPlot.paths.bars({ size: [0.8, 64], gap: 1 });
  const show = (key) => (u, v, si, i) => (i === null || i === undefined ? "–" : fmtInt(rows[i][key]));
  const series = [
    { label: "Bucket", value: (u, v, si, i) => (i === null || i === undefined ? "–" : rows[i].bucket_start) },
    ...layers.map((k) => ({
      label: TYPE_LABELS[STACKED[k]],
      fill: cssVar(`--c-${STACKED[k]}`),
      stroke: cssVar(`--c-${STACKED[k]}`),
      width: 0,
      paths: bars,
      points: { show: false },
      value: show(STACKED[k]),
    })),
    ...LINES.map(({ key, dash }) => ({
      label: TYPE_LABELS[key],
      stroke: cssVar(`--c-${key}`),
      width: 2,
      dash,
      scale: "lines",
      points: { show: rows.length <= 60, size: 5 },
      value: show(key),
    })),
  ];
  const data = [rows.map((_, i) => i), ...layers.map((k) => tops[k]), ...LINES.map(({ key }) => rows.map((r) => r[key]))];
  const fromZero = (u, min, max) => [0, max > 0 ? max * 1.08 : 1];
  const opts = {
    width: Math.floor(box.clientWidth) || 800,
    height: HEIGHT,
    scales: {
      x: { time: false, range: (u, min, max) => [min - 0.5, max + 0.5] },
      y: { range: fromZero },
      lines: { range: fromZero },
    },
    axes: [
      { stroke: text, grid: { show: false }, ticks: { stroke: grid }, incrs: INDEX_STEPS, space: labels[0]?.length > 8 ? 110 : 60,
        values: (u, splits) => splits.map((i) => labels[i] ?? "") },
      { stroke: text, grid: { stroke: grid }, ticks: { stroke: grid }, incrs: COUNT_STEPS, size: 60, label: "Received (bars)",
        values: (u, splits) => splits.map(fmtInt) },
      { scale: "lines", side: 1, stroke: text, grid: { show: false }, ticks: { stroke: grid }, incrs: COUNT_STEPS, size: 60,
        label: "Hot · VPN · Suspicious (lines)", values: (u, splits) => splits.map(fmtInt) },
    ],
    cursor: { points: { show: false } },
    legend: { live: true },
    series,
  };
  if (plot) plot.destroy();
  plot = new window.uPlot(opts, data, box);
  // What is drawn, per series: each bar layer's top (cumulative) and each line's values.
  const keys = [...layers.map((k) => STACKED[k]), ...LINES.map((l) => l.key)];
  box.dataset.drawn = JSON.stringify(Object.fromEntries(keys.map((key, i) => [key, plot.data[i + 1]])));
  plot.ctx.canvas.setAttribute("role", "img");
  plot.ctx.canvas.setAttribute("aria-label", "Stacked bars of leads received per bucket by type, with lines for "
    + "hot, VPN and suspicious leads; the numbers are in the table below the chart.");
  resizer.observe(box);
}

/** Draw a report with a time bucket (zero-filled rows, CONTRACT §4) into the figure. */
export function renderTimeChart(figure, result, bucket) {
  const rows = result.rows;
  const series = { bucket_start: rows.map((r) => r.bucket_start), received: rows.map((r) => r.received) };
  for (const key of SERIES) series[key] = rows.map((r) => r[key]);
  figure.dataset.series = JSON.stringify(series);
  const partial = partialStarts(result, bucket);
  figure.dataset.partial = JSON.stringify([...partial]);
  renderTable(figure.querySelector(".chart-table table"), rows, bucket, partial);
  const empty = result.totals.received === 0;
  const note = figure.querySelector(".empty-note");
  note.textContent = empty
    ? "No leads in this window."
    : "The chart library did not load; the numbers are in the table below.";
  note.hidden = !empty && Boolean(window.uPlot);
  const box = figure.querySelector(".chart-box");
  box.hidden = !note.hidden;
  if (note.hidden) {
    drawChart(box, rows, bucket, partial);
  } else if (plot) {
    plot.destroy();
    plot = null;
  }
}
