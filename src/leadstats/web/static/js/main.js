// The dashboard: reads its state from the URL, asks the API for four reports (time series, previous
// period, hour × weekday, breakdown) and renders them. Every control change pushes a new URL.

import { ApiError, apiFetch, getJson, getToken, setToken } from "./api.js";
import { renderBreakdown } from "./breakdown.js";
import { fmtDate, fmtDayRange, setRateDefinitions } from "./format.js";
import { renderHeatmap } from "./heatmap.js";
import { loadInsights, whenVisible } from "./insights.js";
import { renderKpis } from "./kpis.js";
import {
  addDays, daysBetween, defaultBucket, filterExpr, parseState, previousWindow, reportParams, resolveWindow,
  serializeState, splitFilter,
} from "./state.js";
import { renderTimeChart } from "./timechart.js";

const $ = (sel) => document.querySelector(sel);
const FILTER_DIMS = ["project", "source", "country", "city", "utm_campaign", "engagement_label"];
const BUCKET_LABELS = { "15m": "15 minutes", "30m": "30 minutes", "60m": "hour", "1d": "day", "1w": "week", "1mo": "month" };
const OP_WORDS = { "=": "is", "!=": "is not", "~=": "contains" };
const REPORT = "/api/v1/report?";

let schema = null;
let schemaRequest = null;
let state = null;
let lastResults = null;
let loadSeq = 0;
let inflight = null;
let insightsWatched = false;
let insightsOnScreen = false;

function setPageState(name) {
  document.body.dataset.state = name;
  $("#main").setAttribute("aria-busy", String(name === "loading"));
}

function showError(message) {
  $("#error").textContent = message;
  $("#error").hidden = !message;
  $("#main").classList.toggle("stale", Boolean(message));
}

// -- state changes ---------------------------------------------------------------------------------

function update(patch) {
  const next = { ...state, ...patch };
  const search = serializeState(next);
  if (search === location.search) return; // e.g. a change event repeated on blur
  state = next;
  history.pushState(null, "", search);
  syncControls();
  load();
}

function windowDays(s) {
  const win = resolveWindow(s);
  return daysBetween(win.from, win.to);
}

/** A new window resets the bucket to the default for its length. */
function changeWindow(patch) {
  const next = { ...state, ...patch };
  if (windowDays(next) !== windowDays(state)) next.bucket = defaultBucket(windowDays(next));
  update(next);
}

// -- controls --------------------------------------------------------------------------------------

function option(value, label, selected = false) {
  return new Option(label, value, selected, selected);
}

function bindControls() {
  $("#range").addEventListener("change", (e) => {
    const range = e.target.value;
    const win = resolveWindow(state);
    changeWindow(range === "custom" ? { range, from: win.from, to: win.to } : { range, from: "", to: "" });
  });
  for (const id of ["#from", "#to"]) {
    $(id).addEventListener("change", () => {
      const from = $("#from").value;
      const last = $("#to").value; // the input shows the last day; the URL and the API take the day after
      if (from && last && from <= last) changeWindow({ range: "custom", from, to: addDays(last, 1) });
      else showError("Pick a start date on or before the end date.");
    });
  }
  $("#tz").addEventListener("change", (e) => {
    const tz = e.target.value.trim();
    if (tz && tz !== state.tz) update({ tz });
  });
  $("#bucket").addEventListener("change", (e) => update({ bucket: e.target.value }));
  $("#by").addEventListener("change", (e) => update({ by: e.target.value }));
  $("#suspicious_min").addEventListener("change", (e) => {
    if (e.target.value !== "") update({ suspicious_min: e.target.value });
  });
  $("#controls").addEventListener("submit", (e) => e.preventDefault());
  $("#filter-add").addEventListener("click", addFilterFromForm);
  $("#filter-value").addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      addFilterFromForm();
    }
  });
  $("#filter-dim").addEventListener("change", suggestValues);
  $("#filter-value").addEventListener("focus", suggestValues);
  for (const button of document.querySelectorAll("button[data-csv]")) {
    button.addEventListener("click", () => downloadCsv(button));
  }
  $("#token-form").addEventListener("submit", submitToken);
  $("#token-button").addEventListener("click", () => askToken(""));
  window.addEventListener("popstate", () => {
    state = parseState(location.search);
    syncControls();
    load();
  });
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    if (lastResults) render();
  });
}

/** Options that come from /api/v1/schema (dimensions for group-by and filters), and the zone list. */
function fillSchemaOptions() {
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  $("#tz-list").replaceChildren(...zones.map((z) => new Option(z)));
  const dims = schema.dimensions.map((d) => d.name);
  $("#by").replaceChildren(...dims.map((d) => option(d, d)));
  const filterDims = [...FILTER_DIMS, ...dims.filter((d) => !FILTER_DIMS.includes(d))];
  $("#filter-dim").replaceChildren(...filterDims.map((d) => option(d, d)));
}

function syncControls() {
  const win = resolveWindow(state);
  $("#range").value = state.range;
  document.querySelectorAll("[data-custom]").forEach((el) => { el.hidden = state.range !== "custom"; });
  $("#from").value = win.from;
  $("#to").value = win.last;
  $("#tz").value = state.tz;
  $("#suspicious_min").value = state.suspicious_min;
  const span = win.last === win.from ? fmtDate(win.from) : `${fmtDate(win.from)} – ${fmtDate(win.last)}`;
  $("#window-label").textContent = `${span} · ${state.tz}`;
  renderFilterChips();
  if (!schema) return;
  const buckets = schema.buckets.filter((b) => b in BUCKET_LABELS || b === state.bucket);
  if (!buckets.includes(state.bucket)) buckets.push(state.bucket); // an alias such as 1h: the API decides
  $("#bucket").replaceChildren(...buckets.map((b) => option(b, BUCKET_LABELS[b] || b, b === state.bucket)));
  if (![...$("#by").options].some((o) => o.value === state.by)) $("#by").append(option(state.by, state.by));
  $("#by").value = state.by;
}

function renderFilterChips() {
  const items = state.filters.map((expr, i) => {
    const f = splitFilter(expr);
    const text = f ? `${f.dim} ${OP_WORDS[f.op]} ${f.values.map((v) => (v === "" ? "(none)" : v)).join(", ")}` : expr;
    const li = document.createElement("li");
    li.className = "chip";
    li.dataset.filter = expr;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `Remove filter: ${text}`);
    remove.addEventListener("click", () => update({ filters: state.filters.filter((_, j) => j !== i) }));
    li.append(text, remove);
    return li;
  });
  if (!items.length) {
    const none = document.createElement("li");
    none.className = "hint";
    none.textContent = "none";
    items.push(none);
  }
  $("#filter-list").replaceChildren(...items);
}

function addFilterFromForm() {
  const raw = $("#filter-value").value.trim();
  if (!raw) {
    $("#filter-value").focus();
    return;
  }
  // The typed text is CSV (a, b or "a, with comma", b); spaces around values are dropped.
  const dim = $("#filter-dim").value;
  const op = $("#filter-op").value;
  const values = splitFilter(`${dim}${op}${raw}`).values.map((v) => v.trim()).filter(Boolean);
  if (!values.length) return;
  const expr = filterExpr(dim, op, values);
  $("#filter-value").value = "";
  if (!state.filters.includes(expr)) update({ filters: [...state.filters, expr] });
}

const suggestionCache = new Map();

/** Offer the window's most frequent values of the chosen filter dimension as suggestions. */
async function suggestValues() {
  const dim = $("#filter-dim").value;
  const win = resolveWindow(state);
  const key = `${dim}|${win.from}|${win.to}|${state.tz}`;
  if (!suggestionCache.has(key)) {
    try {
      const result = await getJson(REPORT + new URLSearchParams({ from: win.from, to: win.to, tz: state.tz, by: dim }));
      suggestionCache.set(key, result.rows.slice(0, 100).map((r) => r[dim]).filter((v) => v !== null));
    } catch {
      return; // suggestions are a convenience; the main views report errors
    }
  }
  if ($("#filter-dim").value === dim) {
    $("#filter-values").replaceChildren(...suggestionCache.get(key).map((v) => new Option(String(v))));
  }
}

// -- loading and rendering ---------------------------------------------------------------------------

function loadSchema() {
  schemaRequest ??= getJson("/api/v1/schema").then((doc) => {
    schema = doc;
    setRateDefinitions(doc.rates); // the one rate definition, from the server
    fillSchemaOptions();
    return doc;
  }, (err) => {
    schemaRequest = null;
    throw err;
  });
  return schemaRequest;
}

function compareLabel(win, prev) {
  const days = daysBetween(win.from, win.to);
  const span = days === 1 ? (state.range === "today" ? "yesterday" : "the day before") : `previous ${days} days`;
  return prev.partial ? `${span}, same time` : span;
}

/** Fetch the four reports of the current state (and the schema, once) and render them. */
async function load() {
  const seq = ++loadSeq;
  inflight?.abort();
  inflight = new AbortController();
  const { signal } = inflight;
  const win = resolveWindow(state);
  const prev = previousWindow(win);
  const urls = {
    series: REPORT + reportParams(state, win, { bucket: state.bucket }),
    previous: REPORT + reportParams(state, prev),
    heat: REPORT + reportParams(state, win, { by: "weekday,hour_of_day" }),
    breakdown: REPORT + reportParams(state, win, { by: state.by }),
  };
  setPageState("loading");
  $("#status").textContent = "Loading…";
  try {
    const [, series, previous, heat, breakdown] = await Promise.all([
      loadSchema(),
      ...Object.values(urls).map((url) => getJson(url, { signal })),
    ]);
    if (seq !== loadSeq) return;
    syncControls();
    lastResults = { series, previous, heat, breakdown, urls, win, prev };
    render();
    showError("");
    const empty = series.totals.received === 0;
    $("#status").textContent = empty
      ? "No leads in this window: try a longer date range or fewer filters."
      : `Updated ${new Date().toLocaleTimeString()}.`;
    if (empty) await showDataSpan(seq, signal);
    document.body.dataset.empty = String(empty);
    $("#token-button").textContent = "Change token";
    $("#token-button").hidden = !getToken();
    document.body.dataset.firstRenderMs ??= String(Math.round(performance.now()));
    document.body.dataset.view = location.search; // which URL the numbers on screen belong to
    setPageState("ready");
    if (insightsOnScreen) {
      loadInsights($("#insights"), state.tz);
    } else if (!insightsWatched) {
      insightsWatched = true; // watch only now: before the first render the empty page shows the panel
      whenVisible($("#insights"), () => {
        insightsOnScreen = true;
        if (document.body.dataset.state === "ready") loadInsights($("#insights"), state.tz);
      });
    }
  } catch (err) {
    if (err.name === "AbortError" || seq !== loadSeq) return;
    if (err instanceof ApiError && err.auth) {
      askToken(getToken() ? err.message : "");
      return;
    }
    $("#status").textContent = "";
    showError(err instanceof ApiError ? err.message : `Something went wrong: ${err.message}`);
    setPageState("error");
  }
}

/** An empty window: say where the store's data is, with a link to that range (GET /api/v1/data-span). */
async function showDataSpan(seq, signal) {
  let span;
  try {
    span = await getJson(`/api/v1/data-span?${new URLSearchParams({ tz: state.tz })}`, { signal });
  } catch {
    return; // the plain message stays
  }
  if (seq !== loadSeq) return;
  const status = $("#status");
  if (!span.last_day) {
    status.textContent = "No leads yet: the store has no events.";
    return;
  }
  const to = addDays(span.last_day, 1);
  const link = document.createElement("a");
  link.id = "data-span-link";
  link.href = serializeState({ ...state, range: "custom", from: span.first_day, to });
  link.textContent = "Show that range";
  link.addEventListener("click", (event) => {
    event.preventDefault();
    changeWindow({ range: "custom", from: span.first_day, to });
  });
  status.textContent = `No leads in this window. Latest data: ${fmtDayRange(span.first_day, span.last_day)}. `;
  status.append(link);
}

function render() {
  const { series, previous, heat, breakdown, urls, win, prev } = lastResults;
  const kpis = $("#kpis");
  kpis.dataset.apiUrl = urls.series;
  kpis.dataset.previousApiUrl = urls.previous;
  renderKpis(kpis, series.totals, previous.totals, compareLabel(win, prev));
  const figure = $("#timechart");
  figure.dataset.apiUrl = urls.series;
  renderTimeChart(figure, series, state.bucket);
  for (const table of document.querySelectorAll(".heatmap")) {
    table.dataset.apiUrl = urls.heat;
    renderHeatmap(table, heat.rows, state.tz);
  }
  const table = $("#breakdown");
  table.dataset.apiUrl = urls.breakdown;
  $("#breakdown-title").textContent = `Breakdown by ${state.by}`;
  renderBreakdown(table, $("#breakdown-note"), breakdown, state.by, state.sort, state.dir, {
    onSort: (key) => update({ sort: key, dir: key === state.sort && state.dir === "desc" ? "asc" : "desc" }),
    // A null group's "only" is DIM= (an empty value is null in the API's filter spelling).
    onFilter: (value) => update({
      filters: [...state.filters, filterExpr(state.by, "=", [value === null ? "" : String(value)])],
    }),
  });
  document.querySelector('button[data-csv="series"]').dataset.apiUrl = `${urls.series}&format=csv`;
  document.querySelector('button[data-csv="breakdown"]').dataset.apiUrl = `${urls.breakdown}&format=csv`;
}

/** Download the API's CSV of a view (a fetch, so the bearer token goes along). */
async function downloadCsv(button) {
  if (!button.dataset.apiUrl) return;
  const win = lastResults.win;
  const what = button.dataset.csv === "series" ? state.bucket : `by-${state.by}`;
  try {
    const blob = await (await apiFetch(button.dataset.apiUrl)).blob();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `leadstats_${win.from}_${win.last}_${what}.csv`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  } catch (err) {
    if (err instanceof ApiError && err.auth) askToken(err.message);
    else showError(err.message);
  }
}

// -- token ------------------------------------------------------------------------------------------

/** Ask for a read token; `message` is the API's reason when a token was refused. */
function askToken(message) {
  if (getToken()) setToken(""); // the stored token was refused (or is being changed): forget it
  $("#token-error").textContent = message;
  $("#token-error").hidden = !message;
  $("#status").textContent = "";
  showError("A read token is needed to show the numbers.");
  setPageState("auth");
  $("#token-button").textContent = "Enter token";
  $("#token-button").hidden = false;
  if (!$("#token-dialog").open) $("#token-dialog").showModal();
  $("#token-input").focus();
}

async function submitToken(e) {
  e.preventDefault();
  const token = $("#token-input").value.trim();
  if (!token) return;
  try {
    await getJson("/api/v1/schema", { token });
  } catch (err) {
    $("#token-error").textContent = err.message;
    $("#token-error").hidden = false;
    $("#token-input").select();
    return;
  }
  setToken(token);
  $("#token-input").value = "";
  $("#token-dialog").close();
  load();
}

// -- start ------------------------------------------------------------------------------------------

bindControls();
state = parseState(location.search);
history.replaceState(null, "", serializeState(state));
syncControls();
load();
