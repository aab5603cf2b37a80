"""Best time windows: when actual and hot leads arrive, per weekday × hour in the report timezone.

Method (pure, over one hourly time-only report of the last ``weeks`` weeks):

- each local hour bucket is assigned its slot ``(weekday 1..7, hour 0..23)``; a slot's *expected* count
  is the mean over the weeks it occurred in (so a window of 8 weeks averages 8 Mondays 11:00), along
  with the median as a robust check;
- ``top_ad_slots`` rank slots by expected hot leads per hour (ties: expected actual leads): where an ad
  hour buys most hot leads;
- ``peak_hours``: at most three separate windows of 2-4 hours of the day whose expected hot leads are
  well above the hourly mean (1.25x), ranked by hot, then actual, leads per hour: times to schedule;
- ``junk_slots`` list slots where, in the *median week*, bots and blocked IPs are the majority of events
  or suspicious leads the majority of actual leads (with at least ``min_events`` events in the window and
  events in at least 3 weeks): recurring hours to exclude from ad schedules or to guard harder. One
  night's bot burst does not make its hour junk for every week.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from ..model.report import ReportResult
from ..model.schema import METRIC_NAMES
from .common import WEEKDAY_NAMES, local_parts, median, pct, rates, ratio, ratio_parts, resolve_window
from .words import hour_range

if TYPE_CHECKING:
    from ..service import LeadStats

DEFAULT_WEEKS = 8
PEAK_FACTOR = 1.25
MAX_WINDOWS = 3  # "when to run ads": at most three separate windows ...
MIN_HOURS, MAX_HOURS = 2, 4  # ... of a few hours each
MIN_WEEKS = 3  # a slot is recurring junk only when it had events in at least this many weeks
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
            **_typical_shares(values[(weekday, hour)]),
        })
    return slots


def _typical_shares(lists: Mapping[str, list[int]]) -> dict[str, Any]:
    """Median over the weeks of each week's junk shares: what the slot is *usually* like, so one night's
    burst does not make an hour "junk" for every week."""
    bots = [100.0 * (b + k) / r for b, k, r in zip(lists["bot"], lists["blocked"], lists["received"], strict=True)
            if r > 0]
    susp = [100.0 * s / p for s, p in zip(lists["suspicious"], lists["primary"], strict=True) if p > 0]
    return {"typical_bot_rate": round(median(bots), 2) if bots else None,
            "typical_suspicious_pct": round(median(susp), 2) if susp else None,
            "weeks_with_events": len(bots)}


def _junk(slot: Mapping[str, Any], min_events: int) -> list[str]:
    """Why a slot is recurring junk: the *median week* (and the window as a whole) is mostly bots or mostly
    suspicious leads."""
    totals = slot["totals"]
    if totals["received"] < min_events or slot["weeks_with_events"] < min(MIN_WEEKS, slot["occurrences"]):
        return []
    reasons = []
    if (slot["typical_bot_rate"] or 0) > 50 and (slot["bot_rate"] or 0) > 50:
        reasons.append("bots")
    _susp, primary = ratio_parts(totals, "suspicious_pct")
    if primary >= min_events and (slot["typical_suspicious_pct"] or 0) > 50 and (slot["suspicious_pct"] or 0) > 50:
        reasons.append("suspicious")
    return reasons


def _peak_ranges(by_hour: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """At most ``MAX_WINDOWS`` separate windows of ``MIN_HOURS``..``MAX_HOURS`` hours, each well above the
    hourly mean (``PEAK_FACTOR``), ranked by expected hot, then actual, leads per hour.

    Windows are picked greedily by hot leads in excess of the peak threshold (so a window grows only
    over hours that are busy themselves) and never touch each other, so a long busy day reads as a few
    distinct times to schedule rather than one block.
    """
    hot = {h["hour"]: h["expected_hot"] for h in by_hour}
    primary = {h["hour"]: h["expected_primary"] for h in by_hour}
    mean_hot = sum(hot.values()) / max(len(hot), 1)
    total_hot = sum(hot.values())
    if mean_hot <= 0:
        return []
    threshold = PEAK_FACTOR * mean_hot
    blocked: set[int] = set()
    chosen: list[tuple[int, int]] = []
    while len(chosen) < MAX_WINDOWS:
        best: tuple[float, float, float, int, int] | None = None
        for length in range(MIN_HOURS, MAX_HOURS + 1):
            for start in range(0, 25 - length):
                hours = range(start, start + length)
                if any(h in blocked or h not in hot for h in hours):
                    continue
                mean = sum(hot[h] for h in hours) / length
                if mean < threshold or min(hot[h] for h in hours) < mean_hot:
                    continue
                excess = sum(hot[h] - threshold for h in hours)
                key = (excess, mean, sum(primary[h] for h in hours) / length, -start, -length)
                if best is None or key > best:
                    best = key
        if best is None:
            break
        start, length = -best[3], -best[4]
        chosen.append((start, start + length))
        blocked.update(range(start - 1, start + length + 1))
    ranges = []
    for lo, hi in chosen:
        hours = range(lo, hi)
        hot_sum = sum(hot[h] for h in hours)
        ranges.append({
            "from_hour": lo,
            "to_hour": hi,
            "label": hour_range(lo, hi),
            "expected_hot_per_hour": round(hot_sum / len(hours), 2),
            "expected_primary_per_hour": round(sum(primary[h] for h in hours) / len(hours), 2),
            "share_of_hot": pct(ratio(hot_sum, total_hot)),
            "share_of_hours": pct(len(hours) / 24),
        })
    ranges.sort(key=lambda r: (-r["expected_hot_per_hour"], -r["expected_primary_per_hour"], r["from_hour"]))
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
                  key=lambda s: (-(s["typical_bot_rate"] or 0), s["weekday"], s["hour"]))
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
                   "peak_factor": PEAK_FACTOR, "peak_windows": f"at most {MAX_WINDOWS} separate windows of "
                   f"{MIN_HOURS}-{MAX_HOURS} hours", "junk": "in the median week, bots+blocked > 50% of events "
                   "or suspicious > 50% of actual leads", "min_events": min_events},
    }


def _brief(slot: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "weekday": slot["weekday"], "hour": slot["hour"], "label": slot["label"],
        "expected_primary": slot["expected"]["primary"], "expected_hot": slot["expected"]["hot"],
        "expected_received": slot["expected"]["received"], "hot_pct": slot["hot_pct"],
        "bot_rate": slot["bot_rate"], "suspicious_pct": slot["suspicious_pct"],
        "typical_bot_rate": slot["typical_bot_rate"], "typical_suspicious_pct": slot["typical_suspicious_pct"],
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
