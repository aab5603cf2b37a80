"""The brief: KPIs against the previous period, focus list, best windows, anomalies, forecast, and
three to five recommended actions that cite their numbers. Deterministic; an LLM may only add prose.

``build_digest(ls, period="week", to=date)`` covers the ``period`` (7 days or 1 day) of whole local days
ending before ``to`` (exclusive, default today) and returns a JSON-ready document:

- ``kpis``: every CONTRACT §2 metric (``received``, ``submissions``, ``primary``, ``follow_up``, ``test``,
  ``blocked``, ``bot``, ``vpn``, ``suspicious``, ``hot``) and the summary's ratios (``actual_pct``,
  ``hot_pct``, ``bot_rate``, ``vpn_pct``, ``suspicious_pct``), each ``{"value", "previous", "change",
  "change_pct"}`` exactly as :func:`leadstats.insights.summary.summary` computes them;
- ``focus`` (the period, at least 7 days), ``windows`` (the last 8 weeks), ``anomalies`` (the period
  against 6 weeks before), ``forecast`` (the next 7 days and the next day by hour);
- ``actions``: 3-5 items ``{"category", "title", "detail", "numbers"}``.

Renderers: :func:`render_markdown`, :func:`render_html`, and ``json.dumps`` for JSON.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import LeadStatsError, QueryError
from ..model.schema import METRIC_NAMES
from ..model.timegrid import zone
from .anomalies import anomalies
from .common import fmt_int, fmt_pct
from .focus import focus
from .forecast import forecast
from .summary import RATIOS, change_block, pct, summary
from .windows import best_windows
from .words import WEEKDAYS, and_list, day_words, days_words, value_words, window_words

if TYPE_CHECKING:
    from ..service import LeadStats

PERIODS = {"week": 7, "day": 1}
KPI_ORDER: tuple[str, ...] = (*METRIC_NAMES, *RATIOS)
_KPI_LABELS = {
    "received": "Events received", "submissions": "Submissions", "primary": "Actual leads",
    "follow_up": "Follow-ups", "test": "Test submits", "blocked": "Blocked", "bot": "Bots", "vpn": "VPN leads",
    "suspicious": "Suspicious leads", "hot": "Hot leads", "actual_pct": "Actual %", "hot_pct": "Hot %",
    "bot_rate": "Bot+blocked %", "vpn_pct": "VPN %", "suspicious_pct": "Suspicious %",
}


def parse_to(value: str | date | None, tz_name: str) -> date:
    """``--to`` as a local date (default: today in ``tz_name``)."""
    if value is None:
        return datetime.now(zone(tz_name)).date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise QueryError(f"--to must be a date YYYY-MM-DD, got {value!r}", field="to") from None


def kpis(ls: LeadStats, summary_doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """All §2 counts and the summary's ratios for the summary's two windows."""
    tz = summary_doc["timezone"]
    flt = [["is", "project", [summary_doc["project"]]]] if summary_doc.get("project") else None
    cur = ls.report(summary_doc["current"]["from"], summary_doc["current"]["to"], timezone=tz, filters=flt).totals
    prev = ls.report(summary_doc["previous"]["from"], summary_doc["previous"]["to"], timezone=tz,
                     filters=flt).totals
    out = {m: change_block(cur[m], prev[m]) for m in METRIC_NAMES}
    for name in RATIOS:
        out[name] = dict(summary_doc["metrics"][name])
    return out


def _trim_focus(item: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("rank", "label", "name", "segment", "action", "signals", "impact", "reason", "evidence", "advice",
            "notes", "share_of_primary", "same_as", "explains")
    out = {k: item.get(k) for k in keep}
    out["counts"] = {m: item["counts"][m] for m in ("received", "primary", "hot", "bot", "blocked", "suspicious",
                                                      "vpn")}
    out["rates"] = {k: v["value"] for k, v in item["rates"].items()}
    return out


def _section(fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Run one insight; a refusal (too little history, ...) becomes ``{"error": ...}``, not a failure."""
    try:
        return dict(fn(*args, **kwargs))
    except LeadStatsError as exc:
        return {"error": exc.message}


def build_digest(
    ls: LeadStats,
    *,
    period: str = "week",
    to: str | date | None = None,
    tz: str | None = None,
    project: str | None = None,
) -> dict[str, Any]:
    """The digest document (see module doc). ``to`` is the exclusive end date."""
    if period not in PERIODS:
        raise QueryError(f"unknown period {period!r}: use week or day", field="period")
    tz_name = ls.timezone(tz)
    zone(tz_name)
    days = PERIODS[period]
    end = parse_to(to, tz_name)
    summary_doc = summary(ls, days=days, tz=tz_name, project=project, today=end)
    flt = [["is", "project", [project]]] if project else None
    start = end - timedelta(days=days)
    focus_start = end - timedelta(days=max(days, 7))
    focus_doc = _section(focus, ls, focus_start, end, tz=tz_name, limit=8, filters=flt)
    if "items" in focus_doc:
        focus_doc["items"] = [_trim_focus(i) for i in focus_doc["items"]]
    windows_doc = _section(best_windows, ls, None, end, tz=tz_name, include_slots=False, filters=flt, top=5)
    for key in ("by_hour", "by_weekday"):
        windows_doc.pop(key, None)
    if "junk_slots" in windows_doc:
        windows_doc["junk_slot_count"] = len(windows_doc["junk_slots"])
        windows_doc["junk_slots"] = windows_doc["junk_slots"][:8]
    anomalies_doc = _section(anomalies, ls, start, end, tz=tz_name, limit=15, filters=flt)
    forecast_doc = _section(forecast, ls, end, tz=tz_name, metric="primary", filters=flt)
    if "hourly" in forecast_doc:
        points = forecast_doc["hourly"]["points"]
        forecast_doc["hourly"]["peak"] = max(points, key=lambda p: p["expected"]) if points else None
    first, last = summary_doc["current"]["first_day"], summary_doc["current"]["last_day"]
    doc: dict[str, Any] = {
        "title": f"Lead brief: {first}" + ("" if first == last else f" to {last}")
        + (f" ({project})" if project else ""),
        "period": period,
        "timezone": tz_name,
        "project": project,
        "to": end.isoformat(),
        "window": summary_doc["current"],
        "previous_window": summary_doc["previous"],
        "generated_at": datetime.now(zone(tz_name)).isoformat(timespec="seconds"),
        "kpis": kpis(ls, summary_doc),
        "top_projects": summary_doc["top_projects"],
        "top_countries": summary_doc["top_countries"],
        "focus": focus_doc,
        "windows": windows_doc,
        "anomalies": anomalies_doc,
        "forecast": forecast_doc,
    }
    doc["actions"] = recommend(doc)
    doc["llm"] = {"used": False}
    return doc


# -- recommended actions -------------------------------------------------------------------------

#: a share at or above this (in percent) of its own scope is the whole scope: acting on it changes nothing
WHOLE_SCOPE_PCT = 99.5
#: a previous period holding at most this fraction of the current value reads "new", not "x25,638"
NEAR_EMPTY = 0.05


def _action(category: str, title: str, detail: str, when: str, **numbers: Any) -> dict[str, Any]:
    return {"category": category, "title": title, "detail": detail, "when": when, "numbers": numbers}


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _spans(doc: Mapping[str, Any]) -> dict[str, str]:
    """Which window each section's figures come from, in words."""
    w, prev = doc["window"], doc["previous_window"]
    days = PERIODS[doc["period"]]
    period = days_words(w["first_day"], w["last_day"])
    previous = days_words(prev["first_day"], prev["last_day"])
    out = {"period": period if days == 1 else f"the {days} days {period}",
           "previous": f"the {doc['period']} before ({previous})",
           "previous_days": previous}
    for key in ("focus", "windows", "anomalies"):
        win = doc[key].get("window")
        out[key] = window_words(win) if win else period
    fw = doc["focus"].get("window")
    if fw:
        n = round((datetime.fromisoformat(fw["to"]) - datetime.fromisoformat(fw["from"])).total_seconds() / 86400)
        out["focus"] = out["focus"] if n == 1 else f"the {n} days {out['focus']}"
    ww = doc["windows"]
    if ww.get("weeks"):
        out["windows"] = f"the {ww['weeks']:g} weeks {out['windows']}"
    daily = (doc["forecast"].get("daily") or {}).get("points") or []
    out["forecast"] = days_words(daily[0]["date"], daily[-1]["date"]) if daily else "the next 7 days"
    return out


def _in(span: str) -> str:
    """``on Sun 1 Mar`` for a day, ``in the 7 days ...`` for longer spans."""
    return f"on {span}" if span[:3] in WEEKDAYS else f"in {span}"


def recommend(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Three to five actions from the digest's numbers, most urgent first (deterministic rules).

    Each action says which window its figures come from (``when``). An action that cannot change
    anything is left out: a segment or project that is the whole of the brief's scope, a market with
    every lead.
    """
    spans = _spans(doc)
    cands: list[tuple[float, dict[str, Any]]] = []
    incidents = doc["anomalies"].get("incidents") or []
    covered: set[str] = set()  # segments an incident already explains: no separate "fix" for them
    for inc in incidents[:1]:
        if inc["severity"] in ("high", "medium"):
            covered.update(d["segment"] for d in inc["drivers"])
            advice = ("Check bot filters and tracking for these segments and keep this traffic out of "
                      "campaign numbers." if inc["direction"] == "up" else
                      "Check that the forms, tracking and ad accounts of these segments work.")
            kind = "spike" if inc["direction"] == "up" else "drop"
            where = f" in {inc['where']}" if inc["drivers"] else ""
            cands.append((0, _action(
                "incident", f"Investigate the {kind} of {inc['span']}{where}",
                f"{_cap(inc.get('summary') or inc['headline'])}, against the same hours of the "
                f"{doc['anomalies'].get('baseline_weeks', 6)} weeks before. {advice}",
                inc["span"], start=inc["start"], end=inc["end"], excess=inc["excess"],
                drivers=[d["segment"] for d in inc["drivers"][:3]])))
    items = [i for i in doc["focus"].get("items") or [] if (i.get("share_of_primary") or 0) < WHOLE_SCOPE_PCT]
    geo = {"country", "city", "region"}

    def focus_detail(item: Mapping[str, Any]) -> str:
        notes = "".join(f" ({n})" for n in item.get("notes") or [])
        why = str(item.get("advice") or "").split(": ", 1)[-1]
        return f"{_cap(_in(spans['focus']))}: {item['evidence']}{notes}. {_cap(why)}."

    for action, prio in (("pause", 1), ("scale", 2), ("fix", 5)):
        for item in items:
            if item["action"] != action or item["label"] in covered:
                continue
            if set(item["segment"]) & geo and action != "scale":
                continue  # geo items go to the geo action below
            verb = {"pause": "Pause or rework", "scale": "Scale", "fix": "Fix"}[action]
            cands.append((prio, _action("campaign", f"{verb} {item['name']}", focus_detail(item), spans["focus"],
                                        actual_leads=item["counts"]["primary"], hot=item["counts"]["hot"],
                                        rates=item["rates"])))
            break
    kpi = doc["kpis"]
    hot_total = kpi["hot"]["value"] or 0
    projects = doc.get("top_projects") or []
    if projects and not doc.get("project"):
        best = max(projects, key=lambda p: (p["hot"], p["primary"]))
        share = pct(best["hot"], hot_total)
        if share is not None and share < WHOLE_SCOPE_PCT:
            change = ("" if best["change_pct"] is None
                      else f", actual leads {best['change_pct']:+.0f}% against {spans['previous']}")
            cands.append((3, _action(
                "team", f"Sales team: put first calls on project {best['project']}",
                f"{_cap(_in(spans['period']))}: {fmt_int(best['hot'])} hot leads ({fmt_pct(share)} of all hot "
                f"leads) out of {fmt_int(best['primary'])} actual leads{change}; the most hot leads of any "
                "project.",
                spans["period"], project=best["project"], hot=best["hot"], primary=best["primary"])))
    geo_items = [i for i in items if set(i["segment"]) & geo]
    countries = doc.get("top_countries") or []
    if geo_items:
        item = geo_items[0]
        cands.append((4, _action("geo", f"Geo: {item['action']} {item['name']}", focus_detail(item),
                                 spans["focus"], actual_leads=item["counts"]["primary"], rates=item["rates"])))
    elif countries:
        c = countries[0]
        primary_total = kpi["primary"]["value"] or 0
        share = pct(c["primary"], primary_total)
        if share is not None and share < WHOLE_SCOPE_PCT:
            name = value_words("country", c["country"])
            cands.append((6.5, _action(
                "geo", f"Geo: keep {name} as the core market",
                f"{_cap(_in(spans['period']))}: {fmt_int(c['primary'])} of {fmt_int(primary_total)} actual "
                f"leads ({fmt_pct(share)}) at {fmt_pct(c['hot_pct'])} hot; no country or city differs from "
                "the rest by enough to move budget.",
                spans["period"], country=c["country"], primary=c["primary"], hot_pct=c["hot_pct"])))
    w = doc["windows"]
    peaks = w.get("peak_hours") or []
    if peaks:
        labels = and_list([p["label"] for p in peaks])
        hot_share = sum(p["share_of_hot"] or 0 for p in peaks)
        hours_share = sum(p["share_of_hours"] or 0 for p in peaks)
        if hours_share < WHOLE_SCOPE_PCT:
            junk = w.get("junk_slot_count", 0)
            examples = and_list([s["label"] for s in (w.get("junk_slots") or [])[:3]])
            tail = (f" {junk} weekday-hours are mostly bots in a usual week (e.g. {examples}): exclude them."
                    if junk else "")
            best = peaks[0]
            mean = (w.get("hourly_mean") or {}).get("hot")
            avg = f" against {mean:.1f} in an average hour" if mean is not None else ""
            cands.append((4.5, _action(
                "timing", f"Run ads {labels} ({doc['timezone']})",
                f"Over {spans['windows']} these hours brought {fmt_pct(hot_share)} of hot leads in "
                f"{fmt_pct(hours_share)} of the day; the best, {best['label']}, "
                f"{best['expected_hot_per_hour']:.1f} hot and {best['expected_primary_per_hour']:.0f} actual "
                f"leads an hour{avg}.{tail}",
                spans["windows"], peak_hours=[p["label"] for p in peaks], share_of_hot=round(hot_share, 2),
                junk_slots=junk)))
    primary = kpi["primary"]
    if primary["change_pct"] is not None and primary["change_pct"] <= -15:
        cands.append((1, _action(
            "kpi", "Find the cause of fewer actual leads",
            f"Actual leads fell to {fmt_int(primary['value'])} {_in(spans['period'])} from "
            f"{fmt_int(primary['previous'])} {_in(spans['previous'])} ({primary['change_pct']:+.1f}%).",
            spans["period"], value=primary["value"], previous=primary["previous"],
            change_pct=primary["change_pct"])))
    if not kpi["primary"]["value"]:
        cands.append((0.5, _action(
            "kpi", "Check lead capture: no actual leads were recorded",
            f"0 actual leads {_in(spans['period'])} ({fmt_int(kpi['received']['value'] or 0)} events in all, "
            f"{fmt_int(kpi['primary']['previous'] or 0)} actual leads {_in(spans['previous'])}): check "
            "that the forms and the Worker still send events.",
            spans["period"], value=0, previous=kpi["primary"]["previous"])))
    nxt = doc["forecast"].get("next_7_days")
    if nxt:
        daily = doc["forecast"]["daily"]
        busiest = max(daily["points"], key=lambda p: p["expected"])
        cands.append((7, _action(
            "forecast", f"Plan for about {fmt_int(nxt['expected'])} actual leads in the next 7 days",
            f"Forecast for {spans['forecast']}: {fmt_int(nxt['low'])}–{fmt_int(nxt['high'])} "
            f"({100 * daily['interval']:.0f}% band); busiest day {day_words(date.fromisoformat(busiest['date']))} "
            f"with about {fmt_int(busiest['expected'])}. {_cap(daily.get('accuracy') or '')}.",
            spans["forecast"], expected=nxt["expected"], low=nxt["low"], high=nxt["high"], mape=daily["mape"],
            coverage=daily.get("coverage"))))
    cands.sort(key=lambda c: c[0])
    return [a for _p, a in cands[:5]]


# -- rendering -----------------------------------------------------------------------------------


def _kpi_cell(name: str, value: Any) -> str:
    if value is None:
        return "—"  # a number that does not exist (docs/semantics.md "Words for people")
    return fmt_pct(value) if name in RATIOS else fmt_int(value)


def _change_cell(name: str, block: Mapping[str, Any]) -> str:
    if block["change"] is None:
        return "—"  # a number that does not exist (docs/semantics.md "Words for people")
    if name in RATIOS:
        return f"{block['change']:+.1f} pts"
    value, previous = block["value"] or 0, block["previous"] or 0
    if value > 0 and previous <= NEAR_EMPTY * value:
        return "new"  # against a (near-)empty previous period a ratio means nothing
    rel = "" if block["change_pct"] is None else f" ({block['change_pct']:+.1f}%)"
    return f"{block['change']:+,}{rel}"


def _section_parts(doc: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Per section: its title and the window its figures come from."""
    spans = _spans(doc)
    weeks = doc["anomalies"].get("baseline_weeks", 6)
    return {
        "kpis": ("Key numbers", f"{spans['period']} against {spans['previous_days']}"),
        "focus": ("Focus list", spans["focus"]),
        "windows": ("Best time windows", spans["windows"]),
        "anomalies": ("Anomalies", f"{spans['anomalies']}, against the {weeks} weeks before"),
        "forecast": ("Forecast", f"actual leads, {spans['forecast']}"),
    }


def _sections(doc: Mapping[str, Any]) -> dict[str, str]:
    """Section titles that say which window their figures come from."""
    return {k: f"{title} ({span})" for k, (title, span) in _section_parts(doc).items()}


def _scope_line(doc: Mapping[str, Any]) -> str:
    spans = _spans(doc)
    scope = f", project {doc['project']} only" if doc.get("project") else ""
    return f"Period: {spans['period']} ({doc['timezone']}{scope}), compared with {spans['previous']}."


def _window_lines(w: Mapping[str, Any]) -> list[str]:
    if w.get("error"):
        return [str(w["error"])]
    lines = [f"Run ads {p['label']}: {p['expected_hot_per_hour']:.1f} hot and {p['expected_primary_per_hour']:.0f} "
             f"actual leads an hour, {fmt_pct(p['share_of_hot'])} of hot leads" for p in w.get("peak_hours", [])]
    if w.get("top_ad_slots"):
        lines.append("Best single hours: " + ", ".join(f"{s['label']} ({s['expected_hot']:.1f} hot)"
                                                       for s in w["top_ad_slots"]))
    if w.get("junk_slots"):
        lines.append(f"Mostly bots in a usual week ({w['junk_slot_count']} weekday-hours), e.g. " + ", ".join(
            f"{s['label']} ({fmt_pct(s.get('typical_bot_rate', s['bot_rate']))})" for s in w["junk_slots"][:5]))
    return lines


def _forecast_lines(f: Mapping[str, Any]) -> list[str]:
    if f.get("error"):
        return [str(f["error"])]
    nxt = f["next_7_days"]
    lines = [f"Next 7 days: {fmt_int(nxt['expected'])} ({fmt_int(nxt['low'])}–{fmt_int(nxt['high'])}, "
             f"{100 * f['daily']['interval']:.0f}% band); {f['daily'].get('accuracy', '')}"]
    lines += [f"  - {day_words(date.fromisoformat(p['date']))}: {fmt_int(p['expected'])} "
              f"({fmt_int(p['low'])}–{fmt_int(p['high'])})" for p in f["daily"]["points"]]
    peak = f["hourly"].get("peak")
    if peak:
        lines.append(f"Next day by hour: busiest {peak['start'][11:16]} with about {peak['expected']:.0f}; "
                     f"{f['hourly'].get('accuracy', '')}")
    return lines


def render_markdown(doc: Mapping[str, Any]) -> str:
    """The digest as Markdown (e-mail text part, Slack, file)."""
    titles = _sections(doc)
    out = [f"# {doc['title']}", "", _scope_line(doc), ""]
    if doc.get("llm", {}).get("text"):
        out += ["## Summary", "", doc["llm"]["text"].strip(), ""]
    out += ["## Recommended actions", ""]
    out += [f"{i}. **{a['title']}**: {a['detail']}" for i, a in enumerate(doc["actions"], 1)] or ["No actions."]
    out += ["", f"## {titles['kpis']}", "", "| metric | this period | previous | change |", "|---|---:|---:|---:|"]
    for name in KPI_ORDER:
        block = doc["kpis"][name]
        out.append(f"| {_KPI_LABELS[name]} | {_kpi_cell(name, block['value'])} | "
                   f"{_kpi_cell(name, block['previous'])} | {_change_cell(name, block)} |")
    focus_doc = doc["focus"]
    out += ["", f"## {titles['focus']}", ""]
    items = focus_doc.get("items") or []
    out += [f"- **{i['action']}** {i['reason']}" for i in items] or [
        f"- {focus_doc.get('error') or 'No segment differs from the rest enough to act on.'}"]
    out += ["", f"## {titles['windows']}", ""]
    out += [line if line.startswith("  ") else f"- {line}" for line in _window_lines(doc["windows"])]
    a = doc["anomalies"]
    out += ["", f"## {titles['anomalies']}", ""]
    incidents = a.get("incidents") or []
    out += [f"- **{i['severity']}** {i['headline']}" for i in incidents] or [
        f"- {a.get('error') or 'None: every hour and day was within its usual range.'}"]
    out += ["", f"## {titles['forecast']}", ""]
    out += [line if line.startswith("  ") else f"- {line}" for line in _forecast_lines(doc["forecast"])]
    return "\n".join(out) + "\n"


def _table(head: list[str], rows: list[list[str]]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table border="1" cellpadding="4" cellspacing="0"><tr>{cells}</tr>{body}</table>'


def _items(lines: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in lines) + "</ul>"


def render_html(doc: Mapping[str, Any]) -> str:
    """The digest as a self-contained HTML page (e-mail HTML part, file). Every value is escaped."""
    e = html.escape
    heads = {k: f"<h2>{e(title)}</h2><p><i>{e(span)}</i></p>" for k, (title, span) in _section_parts(doc).items()}
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(doc['title'])}</title></head>"
             f"<body style='font-family:sans-serif'><h1>{e(doc['title'])}</h1>",
             f"<p>{e(_scope_line(doc))}</p>"]
    if doc.get("llm", {}).get("text"):
        parts.append(f"<h2>Summary</h2><p>{e(doc['llm']['text'])}</p>")
    parts.append("<h2>Recommended actions</h2><ol>" + "".join(
        f"<li><b>{e(a['title'])}</b>: {e(a['detail'])}</li>" for a in doc["actions"]) + "</ol>")
    parts.append(heads["kpis"] + _table(
        ["metric", "this period", "previous", "change"],
        [[_KPI_LABELS[n], _kpi_cell(n, doc["kpis"][n]["value"]), _kpi_cell(n, doc["kpis"][n]["previous"]),
          _change_cell(n, doc["kpis"][n])] for n in KPI_ORDER]))
    focus_items = doc["focus"].get("items") or []
    parts.append(heads["focus"] + _items([f"{i['action']}: {i['reason']}" for i in focus_items]
                                                           or ["No segment differs from the rest enough to act on."]))
    parts.append(heads["windows"] + _items(_window_lines(doc["windows"]) or ["No data."]))
    incidents = doc["anomalies"].get("incidents") or []
    parts.append(heads["anomalies"] + _items(
        [f"{i['severity']}: {i['headline']}" for i in incidents]
        or [doc["anomalies"].get("error") or "None: every hour and day was within its usual range."]))
    parts.append(heads["forecast"] + _items([x.strip().lstrip("- ") for x in
                                                               _forecast_lines(doc["forecast"])])
                 + "</body></html>")
    return "".join(parts)
