// The view state: every setting lives in the URL query string, so a link reproduces the view and
// back/forward walk through earlier views. Dates are local calendar dates in the chosen time zone.

const DEFAULT_TZ = "Asia/Kolkata";
const DEFAULT_BY = "project";
const DEFAULT_SUSPICIOUS_MIN = 40;
const RANGES = ["today", "yesterday", "7d", "30d", "90d", "custom"];
const RANGE_DAYS = { today: 1, yesterday: 1, "7d": 7, "30d": 30, "90d": 90 };
const DEFAULT_RANGE = "7d";
const SORT_KEYS = ["value", "received", "primary", "actual_pct", "hot_pct", "bot_rate", "share"];
const DAY_MS = 86_400_000;
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

/** Calendar arithmetic on "YYYY-MM-DD" strings (no time zone involved). */
export function addDays(date, n) {
  const [y, m, d] = date.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d) + n * DAY_MS).toISOString().slice(0, 10);
}

export function daysBetween(from, to) {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS);
}

const dayFormats = new Map();

/** A YYYY-MM-DD formatter for `tz` (en-CA writes dates that way), or null for an unknown zone. */
function dayFormat(tz) {
  if (!dayFormats.has(tz)) {
    let fmt = null;
    try {
      fmt = new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" });
    } catch {
      // unknown zone: the API will say so
    }
    dayFormats.set(tz, fmt);
  }
  return dayFormats.get(tz);
}

/** Today's date on the wall calendar of `tz` (of UTC while `tz` is not a zone the browser knows). */
function todayIn(tz, now = new Date()) {
  return (dayFormat(tz) ?? dayFormat("UTC")).format(now);
}

/** The default bucket for a window of `days` days: about 24-100 bars. */
export function defaultBucket(days) {
  if (days <= 1) return "30m";
  if (days <= 3) return "60m";
  if (days <= 92) return "1d";
  if (days <= 400) return "1w";
  return "1mo";
}

/** The [from, to) window of a state as local dates; `last` is the last day shown (inclusive). */
export function resolveWindow(state, now = new Date()) {
  const today = todayIn(state.tz, now);
  if (state.range === "custom") {
    return { from: state.from, to: state.to, last: addDays(state.to, -1), today };
  }
  const days = RANGE_DAYS[state.range];
  const end = state.range === "yesterday" ? today : addDays(today, 1);
  return { from: addDays(end, -days), to: end, last: addDays(end, -1), today };
}

/**
 * The previous period of equal length. When the window reaches past now (today, last N days), the
 * comparison stops at the same moment of the previous period, so a half-day is not compared with a full one.
 */
export function previousWindow(win, now = new Date()) {
  const days = daysBetween(win.from, win.to);
  const from = addDays(win.from, -days);
  if (win.to > win.today && win.from <= win.today) {
    const cut = new Date(now.getTime() - days * DAY_MS);
    cut.setUTCMilliseconds(0);
    return { from, to: cut.toISOString().replace(".000Z", "Z"), partial: true };
  }
  return { from, to: win.from, partial: false };
}

function parseFilters(values) {
  return values.map((v) => v.trim()).filter((v) => /^[a-z_]+(!=|~=|=)/.test(v));
}

/** Read a state from a query string, falling back to defaults for anything missing or malformed. */
export function parseState(search, now = new Date()) {
  const q = new URLSearchParams(search);
  const tz = (q.get("tz") || DEFAULT_TZ).trim();
  let range = RANGES.includes(q.get("range")) ? q.get("range") : null;
  let from = q.get("from") || "";
  let to = q.get("to") || "";
  if (!range) range = DATE_RE.test(from) && DATE_RE.test(to) ? "custom" : DEFAULT_RANGE;
  if (range === "custom" && !(DATE_RE.test(from) && DATE_RE.test(to) && from < to)) {
    const today = todayIn(tz, now);
    from = addDays(today, -6);
    to = addDays(today, 1);
  }
  if (range !== "custom") {
    from = "";
    to = "";
  }
  const state = {
    range,
    from,
    to,
    tz,
    bucket: q.get("bucket") || "",
    by: q.get("by") || DEFAULT_BY,
    filters: parseFilters(q.getAll("filter")),
    suspicious_min: q.get("suspicious_min") || String(DEFAULT_SUSPICIOUS_MIN),
    sort: SORT_KEYS.includes(q.get("sort")) ? q.get("sort") : "received",
    dir: q.get("dir") === "asc" ? "asc" : "desc",
  };
  if (!state.bucket) {
    const win = resolveWindow(state, now);
    state.bucket = defaultBucket(daysBetween(win.from, win.to));
  }
  return state;
}

/**
 * The query string for a state. Parameters named as in /api/v1/report mean the same there: `from` and
 * `to` (exclusive) are the API's window, so a custom view and its report share their from/to.
 */
export function serializeState(state) {
  const q = new URLSearchParams();
  q.set("range", state.range);
  if (state.range === "custom") {
    q.set("from", state.from);
    q.set("to", state.to);
  }
  q.set("tz", state.tz);
  q.set("bucket", state.bucket);
  q.set("by", state.by);
  for (const f of state.filters) q.append("filter", f);
  q.set("suspicious_min", state.suspicious_min);
  if (state.sort !== "received" || state.dir !== "desc") {
    q.set("sort", state.sort);
    q.set("dir", state.dir);
  }
  return `?${q}`;
}

/** Query parameters for /api/v1/report: the window, zone, filters and threshold, plus `extra`. */
export function reportParams(state, win, extra = {}) {
  const q = new URLSearchParams({ from: win.from, to: win.to, tz: state.tz });
  for (const f of state.filters) q.append("filter", f);
  q.set("suspicious_min", state.suspicious_min);
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  return q;
}

/** Build a filter expression in the API's form (DIM=V1,V2 or DIM!=V), CSV-quoting values when needed. */
export function filterExpr(dim, op, values) {
  const cells = values.map((v) => (/[",]/.test(v) || v !== v.trim() ? `"${v.replaceAll('"', '""')}"` : v));
  return `${dim}${op}${cells.join(",")}`;
}

/** Split a filter expression into {dim, op, values} (values are CSV, as the API reads them). */
export function splitFilter(expr) {
  const m = /^([a-z_]+)(!=|~=|=)(.*)$/s.exec(expr);
  if (!m) return null;
  const values = [];
  let cell = "";
  let quoted = false;
  const text = m[3];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        cell += ch;
      }
    } else if (ch === '"' && cell === "") {
      quoted = true;
    } else if (ch === ",") {
      values.push(cell);
      cell = "";
    } else {
      cell += ch;
    }
  }
  values.push(cell);
  return { dim: m[1], op: m[2], values };
}
