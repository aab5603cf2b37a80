"""Best time windows: when actual and hot leads arrive, per weekday × hour in the report timezone.

Method (pure, over one hourly time-only report of the last ``weeks`` weeks):

- each local hour bucket is assigned its slot ``(weekday 1..7, hour 0..23)``; a slot's *expected* count
  is the mean over the weeks it occurred in (so a window of 8 weeks averages 8 Mondays 11:00), along
  with the median as a robust check;
- ``top_ad_slots`` rank slots by expected hot leads per hour (ties: expected actual leads): where an ad
  hour buys most hot leads;
- ``peak_hours`` merge neighbouring hours of the day whose expected hot leads are at least 1.25x the
  hourly mean into ranges (``11:00-14:00``), for a schedule people can read;
- ``junk_slots`` list slots where bots and blocked IPs are the majority of events, or suspicious leads the
  majority of actual leads (with at least ``min_events`` events in the window): hours to exclude from
  ad schedules or to guard harder.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from ..model.report import ReportResult
from ..model.schema import METRIC_NAMES
from .common import WEEKDAY_NAMES, local_parts, median, pct, rates, ratio, ratio_parts, resolve_window

if TYPE_CHECKING:
    from ..service import LeadStats

DEFAULT_WEEKS = 8
PEAK_FACTOR = 1.25
SLOT_METRICS: tuple[str, ...] = ("received", "primary", "hot", "bot", "blocked", "suspicious", "vpn")


def _hour_label(hour: int) -> str:
    return f"{hour:02d}:00"


def slot_profile(result: ReportResult) -> list[dict[str, Any]]:
    """Per (weekday, hour) slot: occurrences, sums and expected (mean) counts, from an hourly report."""
    sums: dict[tuple[int, int], dict[str, int]] = {}
    values: dict[tuple[int, int], dict[str, list[int]]] = {}
    for row in result.rows:
        weekday, hour, _day = local_parts(row["bucket_start"])
        key = (weekday, hour)
        acc = sums.setdefault(key, dict.fromkeys(METRIC_NAMES, 0) | {"occurrences": 0})
        acc["occurrences"] += 1
        lists = values.setdefault(key, {m: [] for m in SLOT_METRICS})
        for m in METRIC_NAMES:
            acc[m] += int(row[m])
        for m in SLOT_METRICS:
            lists[m].append(int(row[m]))
    slots = []
    for (weekday, hour), acc in sorted(sums.items()):
        n = acc["occurrences"]
        totals = {m: acc[m] for m in METRIC_NAMES}
        slots.append({
            "weekday": weekday,
            "weekday_name": WEEKDAY_NAMES[weekday - 1],
            "hour": hour,
            "label": f"{WEEKDAY_NAMES[weekday - 1]} {_hour_label(hour)}",
            "occurrences": n,
            "totals": totals,
            "expected": {m: round(acc[m] / n, 2) for m in SLOT_METRICS},
            "median": {m: median(values[(weekday, hour)][m]) for m in SLOT_METRICS},
            **rates(totals),
        })
    return slots


def _junk(slot: Mapping[str, Any], min_events: int) -> list[str]:
    totals = slot["totals"]
    if totals["received"] < min_events:
        return []
    reasons = []
    bots, received = ratio_parts(totals, "bot_rate")
    if received and bots / received > 0.5:
        reasons.append("bots")
    susp, primary = ratio_parts(totals, "suspicious_pct")
    if primary >= min_events and susp / primary > 0.5:
        reasons.append("suspicious")
    return reasons


def _peak_ranges(by_hour: list[dict[str, Any]]) -> list[dict[str, Any]]:
    mean_hot = sum(h["expected_hot"] for h in by_hour) / max(len(by_hour), 1)
    total_hot = sum(h["expected_hot"] for h in by_hour)
    peak = {h["hour"] for h in by_hour if mean_hot > 0 and h["expected_hot"] >= PEAK_FACTOR * mean_hot}
    ranges: list[dict[str, Any]] = []
    for hour in range(24):
        if hour in peak and (hour - 1) not in peak:
            end = hour
            while end + 1 in peak:
                end += 1
            hours = [h for h in by_hour if hour <= h["hour"] <= end]
            hot = sum(h["expected_hot"] for h in hours)
            ranges.append({
                "from_hour": hour,
                "to_hour": end + 1,
                "label": f"{_hour_label(hour)}-{_hour_label((end + 1) % 24)}",
                "expected_hot_per_hour": round(hot / len(hours), 2),
                "expected_primary_per_hour": round(sum(h["expected_primary"] for h in hours) / len(hours), 2),
                "share_of_hot": pct(ratio(hot, total_hot)),
                "share_of_hours": pct(len(hours) / 24),
            })
    ranges.sort(key=lambda r: -r["expected_hot_per_hour"])
    return ranges


def _collapse(slots: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    groups: dict[int, list[dict[str, Any]]] = {}
    for slot in slots:
        groups.setdefault(slot[key], []).append(slot)
    out = []
    for value, members in sorted(groups.items()):
        totals = {m: sum(s["totals"][m] for s in members) for m in METRIC_NAMES}
        # by_hour: mean per day at that hour; by_weekday: mean per whole day of that weekday.
        per = max(s["occurrences"] for s in members) if key == "weekday" else sum(
            s["occurrences"] for s in members)
        entry: dict[str, Any] = {key: value}
        if key == "weekday":
            entry["weekday_name"] = WEEKDAY_NAMES[value - 1]
        else:
            entry["label"] = _hour_label(value)
        entry.update({f"expected_{m}": round(totals[m] / per, 2) if per else 0.0 for m in SLOT_METRICS})
        entry.update(rates(totals))
        out.append(entry)
    return out


def time_windows(result: ReportResult, *, top: int = 10, min_events: int = 20) -> dict[str, Any]:
    """Best time windows from an hourly (``60m``), time-only report (see module doc)."""
    if result.query.bucket is None or result.query.bucket.name != "60m" or result.query.dimensions:
        raise ValueError("time_windows needs a time-only report with bucket 60m")
    slots = slot_profile(result)
    for slot in slots:
        slot["junk"] = _junk(slot, min_events)
    ranked = sorted(slots, key=lambda s: (-s["expected"]["hot"], -s["expected"]["primary"],
                                          s["weekday"], s["hour"]))
    top_slots = [_brief(s) for s in ranked[:top] if s["expected"]["hot"] > 0]
    junk = sorted((s for s in slots if s["junk"]),
                  key=lambda s: (-(s["bot_rate"] or 0), s["weekday"], s["hour"]))
    by_hour = _collapse(slots, "hour")
    by_weekday = _collapse(slots, "weekday")
    totals = dict(result.totals)
    hours = max(len(result.rows), 1)
    return {
        "weeks": round(len(result.rows) / 168, 2),
        "hourly_mean": {m: round(totals[m] / hours, 2) for m in SLOT_METRICS},
        "top_ad_slots": top_slots,
        "peak_hours": _peak_ranges(by_hour),
        "junk_slots": [_brief(s) | {"junk": s["junk"]} for s in junk],
        "by_hour": by_hour,
        "by_weekday": by_weekday,
        "slots": slots,
        "method": {"expected": "mean per occurrence of the local weekday-hour slot",
                   "peak_factor": PEAK_FACTOR, "junk": "bots+blocked > 50% of events or suspicious > 50% "
                   "of actual leads", "min_events": min_events},
    }


def _brief(slot: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "weekday": slot["weekday"], "hour": slot["hour"], "label": slot["label"],
        "expected_primary": slot["expected"]["primary"], "expected_hot": slot["expected"]["hot"],
        "expected_received": slot["expected"]["received"], "hot_pct": slot["hot_pct"],
        "bot_rate": slot["bot_rate"], "suspicious_pct": slot["suspicious_pct"],
    }


def best_windows(
    ls: LeadStats,
    start: str | date | datetime | None = None,
    end: str | date | datetime | None = None,
    *,
    tz: str | None = None,
    weeks: int = DEFAULT_WEEKS,
    top: int = 10,
    filters: Any = None,
    include_slots: bool = True,
) -> dict[str, Any]:
    """Run the hourly report (default: the last ``weeks`` full weeks of days) and find the windows.

    >>> import leadstats
    >>> ls = leadstats.connect(":memory:")
    >>> best_windows(ls, "2026-03-02", "2026-03-09")["top_ad_slots"]
    []
    """
    window = resolve_window(start, end, ls.timezone(tz), default_days=7 * weeks)
    result = window.report(ls, bucket="60m", filters=filters)
    doc = time_windows(result, top=top)
    if not include_slots:
        doc.pop("slots")
    return {"window": window.to_dict(), **doc}
