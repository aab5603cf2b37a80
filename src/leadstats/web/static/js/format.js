// Number formatting, metric ratios and names shared by the views.

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

/** The derived rates, from one row of report metrics; the same definitions as /api/v1/summary. */
export function rates(m) {
  return {
    actual_pct: ratio(m.primary, m.received), // actual leads among everything received
    hot_pct: ratio(m.hot, m.primary), // hot leads among actual leads
    bot_rate: ratio(m.bot + m.blocked, m.received), // honeypot bots and blocked IPs among everything received
    vpn_pct: ratio(m.vpn, m.primary), // VPN among actual leads
  };
}

/** "2026-03-07" -> "7 Mar 2026" (or "7 Mar" without the year) */
export function fmtDate(date, withYear = true) {
  const [y, m, d] = date.split("-").map(Number);
  return withYear ? `${d} ${MONTHS[m - 1]} ${y}` : `${d} ${MONTHS[m - 1]}`;
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
