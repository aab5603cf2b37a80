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
    keep = ("rank", "label", "segment", "action", "signals", "impact", "reason", "share_of_primary", "same_as",
            "explains")
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
    anomalies_doc = _section(anomalies, ls, start, end, tz=tz_name, limit=15)
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


def _action(category: str, title: str, detail: str, **numbers: Any) -> dict[str, Any]:
    return {"category": category, "title": title, "detail": detail, "numbers": numbers}


def recommend(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Three to five actions from the digest's numbers, most urgent first (deterministic rules)."""
    cands: list[tuple[float, dict[str, Any]]] = []
    incidents = doc["anomalies"].get("incidents") or []
    covered: set[str] = set()  # segments an incident already explains: no separate "fix" for them
    for inc in incidents[:1]:
        if inc["severity"] in ("high", "medium"):
            covered.update(d["segment"] for d in inc["drivers"])
            advice = ("Check bot filters and tracking for these segments and keep this traffic out of "
                      "campaign numbers." if inc["direction"] == "up" else
                      "Check that the forms, tracking and ad accounts of these segments work.")
            cands.append((0, _action(
                "incident", f"Investigate the {'spike' if inc['direction'] == 'up' else 'drop'} of "
                f"{inc['span']} in {inc['where']}",
                f"{inc['headline'].split(': ', 1)[-1]}. {advice}",
                start=inc["start"], end=inc["end"], excess=inc["excess"],
                drivers=[d["segment"] for d in inc["drivers"][:3]])))
    items = doc["focus"].get("items") or []
    geo = {"country", "city", "region"}
    for action, prio in (("pause", 1), ("scale", 2), ("fix", 5)):
        for item in items:
            if item["action"] != action or item["label"] in covered:
                continue
            if set(item["segment"]) & geo and action != "scale":
                continue  # geo items go to the geo action below
            verb = {"pause": "Pause or rework", "scale": "Scale", "fix": "Fix"}[action]
            cands.append((prio, _action("campaign", f"{verb} {item['label']}", item["reason"],
                                        actual_leads=item["counts"]["primary"], hot=item["counts"]["hot"],
                                        rates=item["rates"])))
            break
    kpi = doc["kpis"]
    hot_total = kpi["hot"]["value"] or 0
    projects = doc.get("top_projects") or []
    if projects:
        best = max(projects, key=lambda p: (p["hot"], p["primary"]))
        share = fmt_pct(pct(best["hot"], hot_total))
        change = ("" if best["change_pct"] is None
                  else f", actual leads {best['change_pct']:+.0f}% on the previous period")
        cands.append((3, _action(
            "team", f"Sales team: put first calls on {best['project']}",
            f"{best['project']} brought {fmt_int(best['hot'])} hot leads ({share} of all hot leads) out of "
            f"{fmt_int(best['primary'])} actual leads{change}.",
            project=best["project"], hot=best["hot"], primary=best["primary"])))
    geo_items = [i for i in items if set(i["segment"]) & geo]
    countries = doc.get("top_countries") or []
    if geo_items:
        item = geo_items[0]
        cands.append((4, _action("geo", f"Geo: {item['action']} {item['label']}", item["reason"],
                                 actual_leads=item["counts"]["primary"], rates=item["rates"])))
    elif countries:
        c = countries[0]
        primary_total = kpi["primary"]["value"] or 0
        cands.append((6.5, _action(
            "geo", f"Geo: keep {c['country'] or 'unknown'} as the core market",
            f"{c['country'] or 'unknown'} gave {fmt_int(c['primary'])} of {fmt_int(primary_total)} actual leads "
            f"({fmt_pct(pct(c['primary'], primary_total))}) at {fmt_pct(c['hot_pct'])} hot; no country or city "
            "differs from the rest by enough to move budget.",
            country=c["country"], primary=c["primary"], hot_pct=c["hot_pct"])))
    peaks = doc["windows"].get("peak_hours") or []
    if peaks:
        labels = " and ".join(p["label"] for p in peaks[:2])
        hot_share = sum(p["share_of_hot"] or 0 for p in peaks[:2])
        junk = doc["windows"].get("junk_slot_count", 0)
        tail = f"; {junk} weekday-hours are mostly bots, exclude them" if junk else ""
        cands.append((4.5, _action(
            "timing", f"Run ads {labels} ({doc['timezone']})",
            f"These hours bring {fmt_pct(hot_share)} of hot leads at "
            f"{peaks[0]['expected_hot_per_hour']:.1f} hot leads per hour over the last "
            f"{doc['windows'].get('weeks', 8):g} weeks{tail}.",
            peak_hours=[p["label"] for p in peaks[:2]], share_of_hot=round(hot_share, 2), junk_slots=junk)))
    primary = kpi["primary"]
    if primary["change_pct"] is not None and primary["change_pct"] <= -15:
        cands.append((1, _action(
            "kpi", "Find the cause of fewer actual leads",
            f"Actual leads fell to {fmt_int(primary['value'])} from {fmt_int(primary['previous'])} "
            f"({primary['change_pct']:+.1f}%).", value=primary["value"], previous=primary["previous"],
            change_pct=primary["change_pct"])))
    if not kpi["primary"]["value"]:
        w = doc["window"]
        cands.append((0.5, _action(
            "kpi", "Check lead capture: no actual leads were recorded",
            f"0 actual leads from {w['first_day']} to {w['last_day']} ({fmt_int(kpi['received']['value'] or 0)} "
            f"events in all, {fmt_int(kpi['primary']['previous'] or 0)} actual leads the period before): check "
            "that the forms and the Worker still send events.",
            value=0, previous=kpi["primary"]["previous"])))
    nxt = doc["forecast"].get("next_7_days")
    if nxt:
        daily = doc["forecast"]["daily"]
        busiest = max(daily["points"], key=lambda p: p["expected"])
        cands.append((7, _action(
            "forecast", f"Plan for about {fmt_int(nxt['expected'])} actual leads in the next 7 days",
            f"Forecast {fmt_int(nxt['low'])}-{fmt_int(nxt['high'])} ({daily['model']}, backtest MAPE "
            f"{daily['mape']}%); busiest day {busiest['date']} with about {fmt_int(busiest['expected'])}.",
            expected=nxt["expected"], low=nxt["low"], high=nxt["high"], mape=daily["mape"])))
    cands.sort(key=lambda c: c[0])
    return [a for _p, a in cands[:5]]


# -- rendering -----------------------------------------------------------------------------------


def _kpi_cell(name: str, value: Any) -> str:
    if value is None:
        return "n/a"
    return fmt_pct(value) if name in RATIOS else fmt_int(value)


def _change_cell(name: str, block: Mapping[str, Any]) -> str:
    if block["change"] is None:
        return "n/a"
    if name in RATIOS:
        return f"{block['change']:+.1f} pts"
    rel = "" if block["change_pct"] is None else f" ({block['change_pct']:+.1f}%)"
    return f"{block['change']:+,}{rel}"


def render_markdown(doc: Mapping[str, Any]) -> str:
    """The digest as Markdown (e-mail text part, Slack, file)."""
    out = [f"# {doc['title']}", "", f"Period: {doc['window']['from']} to {doc['window']['to']} "
           f"({doc['timezone']}), compared with the {doc['period']} before.", ""]
    if doc.get("llm", {}).get("text"):
        out += ["## Summary", "", doc["llm"]["text"].strip(), ""]
    out += ["## Recommended actions", ""]
    out += [f"{i}. **{a['title']}**: {a['detail']}" for i, a in enumerate(doc["actions"], 1)] or ["No actions."]
    out += ["", "## Key numbers", "", "| metric | this period | previous | change |", "|---|---:|---:|---:|"]
    for name in KPI_ORDER:
        block = doc["kpis"][name]
        out.append(f"| {_KPI_LABELS[name]} | {_kpi_cell(name, block['value'])} | "
                   f"{_kpi_cell(name, block['previous'])} | {_change_cell(name, block)} |")
    focus_doc = doc["focus"]
    fw = focus_doc.get("window")
    span = ""
    if fw:
        last = date.fromisoformat(fw["to"][:10]) - timedelta(days=1 if fw["to"][11:19] == "00:00:00" else 0)
        span = f" ({fw['from'][:10]} to {last.isoformat()})"
    out += ["", "## Focus list" + span, ""]
    items = focus_doc.get("items") or []
    out += [f"- **{i['action']}** {i['reason']}" for i in items] or [
        f"- {focus_doc.get('error') or 'No segment differs from the rest enough to act on.'}"]
    w = doc["windows"]
    out += ["", "## Best time windows", ""]
    if w.get("error"):
        out.append(f"- {w['error']}")
    else:
        out += [f"- Peak hours {p['label']}: {p['expected_hot_per_hour']:.1f} hot leads/hour, "
                f"{fmt_pct(p['share_of_hot'])} of hot leads" for p in w.get("peak_hours", [])]
        if w.get("top_ad_slots"):
            out.append("- Top ad slots: " + ", ".join(f"{s['label']} ({s['expected_hot']:.1f} hot)"
                                                      for s in w["top_ad_slots"]))
        if w.get("junk_slots"):
            out.append(f"- Mostly bots ({w['junk_slot_count']} slots), e.g. " + ", ".join(
                f"{s['label']} ({fmt_pct(s['bot_rate'])})" for s in w["junk_slots"][:5]))
    a = doc["anomalies"]
    out += ["", "## Anomalies", ""]
    incidents = a.get("incidents") or []
    out += [f"- **{i['severity']}** {i['headline']}" for i in incidents] or [
        f"- {a.get('error') or 'None: every hour and day was within its usual range.'}"]
    f = doc["forecast"]
    out += ["", "## Forecast (actual leads)", ""]
    if f.get("error"):
        out.append(f"- {f['error']}")
    else:
        nxt = f["next_7_days"]
        out.append(f"- Next 7 days: {fmt_int(nxt['expected'])} ({fmt_int(nxt['low'])}-{fmt_int(nxt['high'])}), "
                   f"{f['daily']['model']}, backtest MAPE {f['daily']['mape']}%")
        out += [f"  - {p['date']}: {fmt_int(p['expected'])} ({fmt_int(p['low'])}-{fmt_int(p['high'])})"
                for p in f["daily"]["points"]]
        peak = f["hourly"].get("peak")
        if peak:
            out.append(f"- Next day by hour: busiest {peak['start'][11:16]} with about {peak['expected']:.0f} "
                       f"({f['hourly']['model']}, MAPE {f['hourly']['mape']}%)")
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
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(doc['title'])}</title></head>"
             f"<body style='font-family:sans-serif'><h1>{e(doc['title'])}</h1>",
             f"<p>{e(doc['window']['from'])} to {e(doc['window']['to'])} ({e(doc['timezone'])})</p>"]
    if doc.get("llm", {}).get("text"):
        parts.append(f"<h2>Summary</h2><p>{e(doc['llm']['text'])}</p>")
    parts.append("<h2>Recommended actions</h2><ol>" + "".join(
        f"<li><b>{e(a['title'])}</b>: {e(a['detail'])}</li>" for a in doc["actions"]) + "</ol>")
    parts.append("<h2>Key numbers</h2>" + _table(
        ["metric", "this period", "previous", "change"],
        [[_KPI_LABELS[n], _kpi_cell(n, doc["kpis"][n]["value"]), _kpi_cell(n, doc["kpis"][n]["previous"]),
          _change_cell(n, doc["kpis"][n])] for n in KPI_ORDER]))
    focus_items = doc["focus"].get("items") or []
    parts.append("<h2>Focus list</h2>" + _items([f"{i['action']}: {i['reason']}" for i in focus_items]
                                                or ["No segment differs from the rest enough to act on."]))
    w = doc["windows"]
    parts.append("<h2>Best time windows</h2>" + _items(
        [f"{p['label']}: {p['expected_hot_per_hour']:.1f} hot leads/hour" for p in w.get("peak_hours", [])]
        + [f"{s['label']}: {s['expected_hot']:.1f} hot/hour" for s in w.get("top_ad_slots", [])]
        or [w.get("error", "No data.")]))
    incidents = doc["anomalies"].get("incidents") or []
    parts.append("<h2>Anomalies</h2>" + _items([f"{i['severity']}: {i['headline']}" for i in incidents]
                                               or ["None: every hour and day was within its usual range."]))
    f = doc["forecast"]
    lines = [f.get("error", "")] if f.get("error") else [
        f"{p['date']}: {fmt_int(p['expected'])} ({fmt_int(p['low'])}-{fmt_int(p['high'])})"
        for p in f["daily"]["points"]]
    parts.append("<h2>Forecast (actual leads)</h2>" + _items(lines) + "</body></html>")
    return "".join(parts)
