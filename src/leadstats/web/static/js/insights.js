// The insights panel: what to scale, fix or pause; the best hours for ads; unusual hours and days; the
// forecast. Each card reads one /api/v1/insights/* route with that route's own default window (shown
// on the card) in the view's time zone. They load after the main views, once the panel is on screen.

import { getJson } from "./api.js";
import { WEEKDAYS, escapeHtml, fmtDate, fmtInt } from "./format.js";

const CARDS = {
  focus: { title: "Where to act", params: { limit: "5" }, render: renderFocus },
  windows: { title: "Best hours for ads", params: { top: "5", slots: "false" }, render: renderWindows },
  anomalies: { title: "Unusual hours and days", params: { limit: "20" }, render: renderAnomalies },
  forecast: { title: "Forecast: actual leads", params: { metric: "primary" }, render: renderForecast },
};

/** A window {from, to} (local ISO instants, `to` exclusive) as "1 Nov 2026 – 7 Nov 2026" or with times. */
function windowText(win) {
  const day = (iso) => iso.slice(0, 10);
  const time = (iso) => iso.slice(11, 16);
  if (time(win.from) === "00:00" && time(win.to) === "00:00") {
    const last = new Date(Date.parse(`${day(win.to)}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
    return `${fmtDate(day(win.from))} – ${fmtDate(last)}`;
  }
  return `${fmtDate(day(win.from))} ${time(win.from)} – ${fmtDate(day(win.to))} ${time(win.to)}`;
}

function renderFocus(doc) {
  if (!doc.items.length) return "<p>No segment stands out: nothing to scale, fix or pause.</p>";
  return `<ol class="insight-list">${doc.items.map((item) => `<li><span class="badge badge-${escapeHtml(item.action)}">${
    escapeHtml(item.action)}</span> ${escapeHtml(item.reason)}</li>`).join("")}</ol>`;
}

function renderWindows(doc) {
  const peaks = doc.peak_hours.map((p) => `<strong>${escapeHtml(p.label)}</strong> brings ${Math.round(p.share_of_hot)}% of hot
    leads in ${Math.round(p.share_of_hours)}% of the hours`).join("; ");
  const slots = doc.top_ad_slots.map((s) => `<li><strong>${escapeHtml(s.label)}</strong>: about ${fmtInt(Math.round(s.expected_primary))}
    actual and ${fmtInt(Math.round(s.expected_hot))} hot leads a week</li>`).join("");
  const junk = doc.junk_slots.slice(0, 3).map((s) => `${escapeHtml(s.label)} (${Math.round(s.bot_rate)}% bots)`).join(", ");
  return `${peaks ? `<p>${peaks}.</p>` : ""}<ol class="insight-list">${slots}</ol>${junk ? `<p class="hint">Mostly junk: ${junk}.</p>` : ""}`;
}

function renderAnomalies(doc) {
  if (!doc.incidents.length) return "<p>Nothing unusual: every hour and day was within its usual range.</p>";
  const items = doc.incidents.slice(0, 4).map((i) => `<li><span class="badge badge-${i.direction === "up" ? "up" : "down"}">${
    i.direction === "up" ? "▲ up" : "▼ down"}</span> ${escapeHtml(i.headline)}</li>`).join("");
  return `<ol class="insight-list">${items}</ol><p class="hint">${fmtInt(doc.anomaly_count)} unusual segment-hours or days in all.</p>`;
}

function renderForecast(doc) {
  const week = doc.next_7_days;
  const rows = doc.daily.points.map((p) => `<tr><th scope="row">${WEEKDAYS[p.weekday - 1]} ${fmtDate(p.date, false)}</th><td class="num">${
    fmtInt(Math.round(p.expected))}</td><td class="num">${fmtInt(Math.round(p.low))}–${fmtInt(Math.round(p.high))}</td></tr>`).join("");
  return `<p>Next 7 days: about <strong>${fmtInt(Math.round(week.expected))}</strong> (${fmtInt(Math.round(week.low))}–${
    fmtInt(Math.round(week.high))}); typical error ${doc.daily.mape}% when tested on past weeks.</p>
    <table class="forecast"><thead><tr><th scope="col">Day</th><th scope="col" class="num">Expected</th>
    <th scope="col" class="num">${Math.round(doc.daily.interval * 100)}% range</th></tr></thead><tbody>${rows}</tbody></table>`;
}

async function loadCard(card, name, tz, isCurrent) {
  const spec = CARDS[name];
  const body = card.querySelector(".insight-body");
  card.setAttribute("aria-busy", "true");
  body.innerHTML = '<p class="hint">Loading…</p>';
  try {
    const doc = await getJson(`/api/v1/insights/${name}?${new URLSearchParams({ tz, ...spec.params })}`);
    if (!isCurrent()) return;
    card.querySelector(".insight-window").textContent = windowText(doc.window);
    body.innerHTML = spec.render(doc);
    card.dataset.state = "ready";
  } catch (err) {
    if (!isCurrent()) return;
    body.innerHTML = `<p class="error">${escapeHtml(err.message)}</p>`;
    card.dataset.state = "error";
  } finally {
    card.setAttribute("aria-busy", "false");
  }
}

/** Fill the panel for `tz` (again only when the zone changed). */
export function loadInsights(section, tz) {
  if (section.dataset.tz === tz) return;
  section.dataset.tz = tz;
  const isCurrent = () => section.dataset.tz === tz;
  section.querySelector(".insight-cards").innerHTML = Object.entries(CARDS).map(([name, spec]) => `
    <article class="insight" data-insight="${name}" data-state="loading">
      <h3>${spec.title}</h3><p class="insight-window hint"></p><div class="insight-body"></div>
    </article>`).join("");
  for (const card of section.querySelectorAll(".insight")) loadCard(card, card.dataset.insight, tz, isCurrent);
}

/** Call `onVisible` whenever the panel is (nearly) on screen, so insights never delay the first render. */
export function whenVisible(section, onVisible) {
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) onVisible();
  }, { rootMargin: "200px" }).observe(section);
}
