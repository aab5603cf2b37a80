// The breakdown table for the group-by dimension: sortable by any column (sort state lives in the URL),
// each number also in data-value so it can be checked against the API.

import { dimLabel, escapeHtml, fmtInt, fmtPct, rates, ratio } from "./format.js";

const MAX_ROWS = 200;
const COLUMNS = [
  { key: "received", label: "Received", kind: "count" },
  { key: "primary", label: "Actual", kind: "count" },
  { key: "actual_pct", label: "Actual %", kind: "pct" },
  { key: "hot_pct", label: "Hot %", kind: "pct" },
  { key: "bot_rate", label: "Bot rate", kind: "pct" },
  { key: "share", label: "Share", kind: "pct" },
];

function compareValues(a, b) {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1; // nulls last in either direction
  if (b === null || b === undefined) return -1;
  return typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b));
}

/**
 * Render `result` (a report by `dim`) into `table`. `onSort(key)` is called when a header is chosen and
 * `onFilter(value)` when a row's "only this" button is pressed.
 */
export function renderBreakdown(table, note, result, dim, sort, dir, { onSort, onFilter }) {
  const total = result.totals.received;
  const rows = result.rows.map((r) => ({
    value: r[dim],
    received: r.received,
    primary: r.primary,
    ...rates(r),
    share: ratio(r.received, total),
  }));
  const sign = dir === "asc" ? 1 : -1;
  rows.sort((a, b) => {
    const byKey = compareValues(a[sort], b[sort]);
    const nullLast = a[sort] === null || b[sort] === null;
    return (nullLast ? byKey : sign * byKey) || compareValues(a.value, b.value);
  });
  const shown = rows.slice(0, MAX_ROWS);
  const headCell = (key, label, numeric) => {
    const active = key === sort;
    const ariaSort = active ? (dir === "asc" ? "ascending" : "descending") : "none";
    const mark = active ? (dir === "asc" ? " ▲" : " ▼") : "";
    return `<th scope="col" aria-sort="${ariaSort}" class="${numeric ? "num" : ""}">
      <button type="button" data-sort="${key}">${escapeHtml(label)}<span aria-hidden="true">${mark}</span></button></th>`;
  };
  const cells = (row) => COLUMNS.map((c) => {
    const v = row[c.key];
    return `<td class="num" data-col="${c.key}" data-value="${v ?? ""}">${c.kind === "count" ? fmtInt(v) : fmtPct(v)}</td>`;
  }).join("");
  const body = shown.map((row, i) => {
    const label = dimLabel(dim, row.value);
    const filterButton = `<button type="button" class="only" data-index="${i}"
      aria-label="Show only ${escapeHtml(dim)} ${escapeHtml(label)}" title="Filter to this">only</button>`;
    return `<tr data-key="${escapeHtml(JSON.stringify(row.value))}"><th scope="row">${escapeHtml(label)} ${filterButton}</th>${cells(row)}</tr>`;
  });
  const totalsRow = { received: total, primary: result.totals.primary, ...rates(result.totals), share: total ? 1 : null };
  table.innerHTML = `<caption class="visually-hidden">Breakdown by ${escapeHtml(dim)}</caption>
    <thead><tr>${headCell("value", dim, false)}${COLUMNS.map((c) => headCell(c.key, c.label, true)).join("")}</tr></thead>
    <tbody>${body.join("") || `<tr><td colspan="${COLUMNS.length + 1}" class="empty-cell">No leads in this window.</td></tr>`}</tbody>
    <tfoot><tr><th scope="row">All</th>${cells(totalsRow)}</tr></tfoot>`;
  note.textContent = rows.length > MAX_ROWS ? `Showing ${MAX_ROWS} of ${fmtInt(rows.length)} values (the CSV has all).` : "";
  table.querySelectorAll("button[data-sort]").forEach((b) => b.addEventListener("click", () => onSort(b.dataset.sort)));
  table.querySelectorAll("button.only").forEach((b) => b.addEventListener("click", () => onFilter(rows[b.dataset.index].value)));
}
