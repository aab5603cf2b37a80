// KPI cards: this period's totals against the previous period of equal length.

import { escapeHtml, fmtInt, fmtPct, rateDefinition, rates } from "./format.js";

const CARDS = [
  { key: "received", label: "Received", kind: "count", help: "Every event: actual, follow-up, test, blocked and bot" },
  { key: "primary", label: "Actual leads", kind: "count", help: "New, real leads: the first submission of each enquiry" },
  // Rate cards: their meaning is the schema's rate definition (see helpOf).
  { key: "actual_pct", label: "Actual %", kind: "pct" },
  { key: "hot_pct", label: "Hot %", kind: "pct" },
  { key: "bot_rate", label: "Bot rate", kind: "pct", worseUp: true },
  { key: "vpn_pct", label: "VPN %", kind: "pct", worseUp: true },
];

function helpOf(card) {
  const def = card.kind === "pct" ? rateDefinition(card.key) : undefined;
  return def ? `${def.description}: ${def.formula}` : card.help ?? "";
}

function valueOf(card, totals) {
  return card.kind === "count" ? totals[card.key] : rates(totals)[card.key];
}

function change(card, now, before) {
  if (now === null || before === null) return { text: "no comparison", dir: 0 };
  if (card.kind === "count") {
    if (before === 0) return now === 0 ? { text: "no change", dir: 0 } : { text: "new", dir: 1 };
    if (before <= 0.05 * now) return { text: "new", dir: 1 }; // near-empty before: "×25,638" means nothing
    const rel = (now - before) / before;
    const dir = Math.sign(Math.round(rel * 1000));
    if (rel >= 9) return { text: `×${fmtInt(Math.round(now / before))}`, dir }; // "+4200%" reads worse
    return { text: `${rel >= 0 ? "+" : "−"}${Math.abs(rel * 100).toFixed(1)}%`, dir };
  }
  const pp = (now - before) * 100;
  return { text: `${pp >= 0 ? "+" : "−"}${Math.abs(pp).toFixed(1)} pp`, dir: Math.sign(Math.round(pp * 10)) };
}

/** Render the six cards into `section`; each card carries its numbers in data-value / data-previous. */
export function renderKpis(section, totals, previousTotals, compareLabel) {
  const cards = CARDS.map((card) => {
    const now = valueOf(card, totals);
    const before = valueOf(card, previousTotals);
    const delta = change(card, now, before);
    const tone = delta.dir === 0 ? "flat" : (delta.dir > 0) !== Boolean(card.worseUp) ? "good" : "bad";
    const arrow = { 1: "▲", 0: "■", "-1": "▼" }[delta.dir];
    const word = { 1: "up", 0: "", "-1": "down" }[delta.dir];
    const shown = card.kind === "count" ? fmtInt(now) : fmtPct(now);
    const prevShown = card.kind === "count" ? fmtInt(before) : fmtPct(before);
    return `<article class="kpi" data-kpi="${card.key}" data-value="${now ?? ""}" data-previous="${before ?? ""}">
      <h3 title="${escapeHtml(helpOf(card))}">${card.label}</h3>
      <p class="kpi-value">${shown}</p>
      <p class="kpi-change ${tone}" title="${escapeHtml(`${compareLabel}: ${prevShown}`)}">
        <span aria-hidden="true">${arrow}</span><span class="visually-hidden">${word}</span> ${delta.text}
        <span class="kpi-vs">vs ${escapeHtml(compareLabel)} (${prevShown})</span></p>
    </article>`;
  });
  section.querySelectorAll(".kpi").forEach((el) => el.remove());
  section.insertAdjacentHTML("beforeend", cards.join(""));
}
