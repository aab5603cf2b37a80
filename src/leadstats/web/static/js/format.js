// Number formatting, metric ratios and names shared by the views. The rate definitions are not
// restated here: they come from GET /api/v1/schema (`rates`: name, numerator metrics, denominator),
// the one definition the server uses too (src/leadstats/model/rates.py).

const INT = new Intl.NumberFormat(); // the reader's own digit grouping
export const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

export const TYPE_LABELS = {
  primary: "Actual",
  follow_up: "Follow-up",
  test: "Test",
  blocked: "Blocked",
  bot: "Bot",
  hot: "Hot",
  vpn: "VPN",
  suspicious: "Suspicious",
};

export function fmtInt(n) {
  return INT.format(n);
}

/** A ratio as a percentage with one decimal, or an em dash when undefined (0/0). */
export function fmtPct(ratio) {
  return ratio === null || !Number.isFinite(ratio) ? "—" : `${(ratio * 100).toFixed(1)}%`;
}

export function ratio(num, den) {
  return den ? num / den : null;
}

let RATE_DEFS = [];

/** Take the rate definitions of /api/v1/schema (called once the schema has loaded). */
export function setRateDefinitions(defs) {
  RATE_DEFS = Array.isArray(defs) ? defs : [];
}

/** The schema's description of one rate (for tooltips), or undefined. */
export function rateDefinition(name) {
  return RATE_DEFS.find((d) => d.name === name);
}

/** Every rate of one row of report metrics, as a 0..1 ratio (null when the denominator is 0). */
export function rates(m) {
  const out = {};
  for (const def of RATE_DEFS) {
    const num = def.numerator.reduce((sum, name) => sum + (m[name] ?? 0), 0);
    out[def.name] = ratio(num, m[def.denominator] ?? 0);
  }
  return out;
}

/** "2026-03-07" -> "7 Mar 2026" (or "7 Mar" without the year) */
export function fmtDate(date, withYear = true) {
  const [y, m, d] = date.split("-").map(Number);
  return withYear ? `${d} ${MONTHS[m - 1]} ${y}` : `${d} ${MONTHS[m - 1]}`;
}

/** Two local dates as one range: "1–16 Mar 2026", "28 Feb – 16 Mar 2026", "30 Dec 2025 – 2 Jan 2026". */
export function fmtDayRange(first, last) {
  if (first === last) return fmtDate(last);
  if (first.slice(0, 7) === last.slice(0, 7)) return `${Number(first.slice(8, 10))}–${fmtDate(last)}`;
  if (first.slice(0, 4) === last.slice(0, 4)) return `${fmtDate(first, false)} – ${fmtDate(last)}`;
  return `${fmtDate(first)} – ${fmtDate(last)}`;
}

/** A bucket_start (local ISO with offset) as a short label; the wall time is read as written. */
export function bucketLabel(iso, bucket) {
  const date = iso.slice(0, 10);
  const [, m, d] = date.split("-").map(Number);
  if (bucket === "1mo") return `${MONTHS[m - 1]} ${iso.slice(0, 4)}`;
  if (bucket === "1d" || bucket === "1w") return `${d} ${MONTHS[m - 1]}`;
  return `${d} ${MONTHS[m - 1]} ${iso.slice(11, 16)}`;
}

/** A dimension value for display: null is its own group, booleans read yes/no, weekdays by name. */
export function dimLabel(dim, value) {
  if (value === null || value === undefined || value === "") return "(none)";
  if (dim === "weekday") return WEEKDAYS[value - 1] ?? String(value);
  if (dim === "hour_of_day") return `${String(value).padStart(2, "0")}:00`;
  if (typeof value === "boolean") return value ? "yes" : "no";
  return String(value);
}

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
