"""Anomalies: hours and days whose volume or junk share is far from the same slot in previous weeks.

Method (pure, over hourly and daily reports that include ``weeks`` weeks of history before the window):

- *Seasonal baseline*: a bucket (Tuesday 02:00 local) is compared with the same local weekday and hour in
  each of the previous ``weeks`` weeks (weeks before the store had any data are skipped; fewer than 3
  usable weeks and the bucket is not judged).
- *Against the trend*: each baseline week is first brought forward by the series' weekly growth (a
  Theil–Sen line through the log weekly totals of the baseline weeks, kept only when at least twice its
  robust standard error, bounded to ±25% a week), so a +12% week on a series that grows every week is
  not read as a rise.
- *Volume* (``received``, ``primary``): the milder of a robust z, ``(x - median) / (1.4826 * MAD)``, and a
  Poisson z on variance-stabilized counts, ``2 (sqrt(x) - sqrt(median))``: the MAD is robust to a past
  outlier, the Poisson view keeps a quiet hour going from 1 to 4 from being a "spike". A *spike* needs
  ``z >= z`` and at least ``min_excess`` extra events; a *drop* ``z <= -z`` and ``min_excess`` missing;
  *zero in a busy hour* means nothing arrived where every baseline week had events and the median is at
  least ``busy``.
- *Shares* (``bot_rate`` = (bot + blocked) / received, ``suspicious_pct`` = suspicious / primary): the
  share against the median weekly share, scaled by ``max(1.4826 * MAD, binomial standard error)``; only
  rises count (fewer bots is good news), by at least 15 points and on at least 20 events.
- *Severity*: ``high`` when ``|z| >= 2 z`` or the value is 3x (or a third of) the baseline, else
  ``medium`` when ``|z| >= 1.5 z``, else ``low``; a zero is ``high`` from a median of 30 up. Headlines use
  the words of :data:`STRENGTH_WORDS` ("rose sharply" only for ``high``).
- Overall and per segment (the largest values of project, source, country, utm_campaign).
- *Incidents*: anomalies in touching hours with the same direction are one incident; its drivers are the
  segments that carry most (>= 60%) of the overall excess, so a bot burst reads "project X and source Y".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..model.rates import RATE_BY_NAME
from ..model.report import Filter, ReportResult
from ..model.schema import METRIC_NAMES
from ..model.timegrid import local_midnight_us
from .common import (
    HOUR_US,
    WEEK_US,
    Window,
    fmt_int,
    fmt_pct,
    hour_start_us,
    mad,
    median,
    resolve_window,
    segment_label,
    wilson,
)
from .words import and_list, segment_name, span_words

if TYPE_CHECKING:
    from ..service import LeadStats

SEGMENT_DIMENSIONS: tuple[str, ...] = ("project", "source", "country", "utm_campaign")
VOLUME_METRICS: tuple[str, ...] = ("received", "primary")
SHARE_METRICS: dict[str, tuple[tuple[str, ...], str]] = {
    name: (RATE_BY_NAME[name].numerator, RATE_BY_NAME[name].denominator) for name in ("bot_rate", "suspicious_pct")
}
_WORDS = {"received": "events", "primary": "actual leads", "bot_rate": "bot+blocked share",
          "suspicious_pct": "suspicious share"}


@dataclass(frozen=True)
class AnomalyOptions:
    """Thresholds (see module doc); hourly tests run by the thousand, hence the strict defaults."""

    weeks: int = 6
    z_hour: float = 6.0
    z_day: float = 6.0
    min_excess_hour: int = 10
    min_excess_day: int = 30
    busy: float = 10.0
    share_points: float = 0.15
    share_min_n: int = 20
    min_weeks: int = 3
    top_segments: int = 8
    driver_share: float = 0.6


@dataclass(frozen=True)
class Series:
    """One zero-filled bucket series: local wall-clock starts and per-metric counts."""

    starts: list[datetime]  # aware, local
    counts: list[dict[str, int]]
    segment: dict[str, Any]


def series_from(result: ReportResult, starts: Sequence[str] | None = None) -> list[Series]:
    """Split a bucketed report into one zero-filled series per segment (time-only: one series).

    ``starts`` lists every ``bucket_start`` of the window (a time-only report over the same window has
    them all, zero-filled); without it a time-only report supplies its own.
    """
    dims = list(result.query.dimensions)
    if starts is None:
        if dims:
            raise ValueError("a report with dimensions needs the window's bucket starts")
        starts = [row["bucket_start"] for row in result.rows]
    moments = [datetime.fromisoformat(s) for s in starts]
    index = {s: i for i, s in enumerate(starts)}
    groups: dict[tuple[Any, ...], list[dict[str, int]]] = {}
    for row in result.rows:
        key = tuple(row.get(d) for d in dims)
        counts = groups.get(key)
        if counts is None:
            counts = groups[key] = [dict.fromkeys(METRIC_NAMES, 0) for _ in moments]
        i = index.get(row["bucket_start"])
        if i is not None:
            counts[i] = {m: int(row[m]) for m in METRIC_NAMES}
    if not dims:
        groups.setdefault((), [dict.fromkeys(METRIC_NAMES, 0) for _ in moments])
    return [Series(moments, counts, dict(zip(dims, key, strict=True))) for key, counts in groups.items()]


def _week_has_data(series: Series) -> list[bool]:
    """Per bucket: is it at or after the series' first event? Earlier buckets are "before the data"
    (a young store, a campaign that had not started), not zeros to compare with."""
    first = next((i for i, c in enumerate(series.counts) if c["received"] > 0), len(series.counts))
    return [i >= first for i in range(len(series.counts))]


def _severity(z: float, ratio: float | None, zmin: float) -> str:
    if abs(z) >= 2 * zmin or (ratio is not None and (ratio >= 3 or ratio <= 1 / 3)):
        return "high"
    return "medium" if abs(z) >= 1.5 * zmin else "low"


#: (severity, direction) -> the verb of a headline: the words follow the score
STRENGTH_WORDS: dict[tuple[str, str], str] = {
    ("high", "up"): "rose sharply", ("medium", "up"): "rose well above the usual range",
    ("low", "up"): "rose above the usual range",
    ("high", "down"): "fell sharply", ("medium", "down"): "fell well below the usual range",
    ("low", "down"): "fell below the usual range",
}


def _theil_sen(xs: Sequence[float], ys: Sequence[float]) -> float:
    slopes = [(ys[j] - ys[i]) / (xs[j] - xs[i]) for i in range(len(xs)) for j in range(i + 1, len(xs))
              if xs[j] != xs[i]]
    return median(slopes)


def weekly_trend(totals: Sequence[float], max_step: float = 0.25) -> float:
    """Growth factor per week of a series from its weekly totals (oldest first), 1.0 when there is none.

    A Theil–Sen line through the log totals (robust to one odd week, such as a bot burst), kept only when
    its slope is at least twice its robust standard error (the MAD of the residuals, floored by the
    Poisson noise of the smallest week), and bounded to ``±max_step`` per week.
    """
    pts = [(float(i), math.log(t)) for i, t in enumerate(totals) if t > 0]
    if len(pts) < 3:
        return 1.0
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    slope = _theil_sen(xs, ys)
    mid_x, mid_y = median(xs), median(ys)
    resid = [y - (mid_y + slope * (x - mid_x)) for x, y in pts]
    spread = max(1.4826 * mad(resid), 1.0 / math.sqrt(min(t for t in totals if t > 0)))
    mean_x = sum(xs) / len(xs)
    se = spread / math.sqrt(sum((x - mean_x) ** 2 for x in xs))
    if abs(slope) < 2 * se:
        return 1.0
    return math.exp(max(math.log(1 - max_step), min(math.log(1 + max_step), slope)))


def _growth(series: Series, has_data: Sequence[bool], start: datetime, weeks: int) -> dict[str, float]:
    """Per volume metric: the series' weekly growth over the ``weeks`` whole weeks before ``start``."""
    out: dict[str, float] = {}
    bounds = [start - timedelta(days=7 * w) for w in range(weeks, -1, -1)]  # oldest first
    for metric in VOLUME_METRICS:
        totals: list[float] = []
        for lo, hi in zip(bounds, bounds[1:], strict=False):
            idx = [i for i, s in enumerate(series.starts) if lo <= s < hi]
            if idx and all(has_data[i] for i in idx):
                totals.append(float(sum(series.counts[i][metric] for i in idx)))
        out[metric] = weekly_trend(totals)
    return out


def detect(
    series: Series,
    *,
    granularity: str,
    start: datetime,
    end: datetime,
    options: AnomalyOptions | None = None,
) -> list[dict[str, Any]]:
    """Anomalies of one series in ``[start, end)`` against the same slot in the previous weeks."""
    opts = options or AnomalyOptions()
    hourly = granularity == "hour"
    zmin = opts.z_hour if hourly else opts.z_day
    min_excess = opts.min_excess_hour if hourly else opts.min_excess_day
    width = timedelta(hours=1) if hourly else timedelta(days=1)
    by_wall = {s.replace(tzinfo=None): i for i, s in enumerate(series.starts)}
    has_data = _week_has_data(series)
    growth = _growth(series, has_data, start, opts.weeks)
    found: list[dict[str, Any]] = []
    for i, moment in enumerate(series.starts):
        if moment < start or moment >= end:  # the reports hold whole buckets only
            continue
        wall = moment.replace(tzinfo=None)
        base_idx = [(w, by_wall.get(wall - timedelta(days=7 * w))) for w in range(1, opts.weeks + 1)]
        base = [(w, j) for w, j in base_idx if j is not None and has_data[j]]
        if len(base) < opts.min_weeks:
            continue
        now = series.counts[i]
        common = {"granularity": granularity, "start": moment.isoformat(),
                  "end": (series.starts[i + 1] if i + 1 < len(series.starts) else moment + width).isoformat(),
                  "segment": series.segment,
                  "label": segment_label(series.segment), "name": segment_name(series.segment)}
        for metric in VOLUME_METRICS:
            hist = [float(series.counts[j][metric]) for _w, j in base]
            # Against the trend: each past week brought forward by the series' weekly growth.
            trend = [series.counts[j][metric] * growth[metric] ** w for w, j in base]
            found.extend(_volume(now[metric], hist, trend, growth[metric], metric, zmin, min_excess, opts,
                                 common))
        for metric, (nums, den) in SHARE_METRICS.items():
            found.extend(_share(now, [series.counts[j] for _w, j in base], metric, nums, den, zmin, opts,
                                common))
    return found


def _volume(x: int, hist: list[float], trend: list[float], growth: float, metric: str, zmin: float,
            min_excess: int, opts: AnomalyOptions, common: Mapping[str, Any]) -> list[dict[str, Any]]:
    m, d = median(trend), mad(trend)
    # Two views of "how far": robust (MAD of the baseline weeks) and Poisson (variance-stabilized
    # counts). The milder one decides, so neither a lucky-flat baseline nor a small count fires alone.
    z_poisson = 2.0 * (math.sqrt(x) - math.sqrt(m))
    z_robust = (x - m) / (1.4826 * d) if d > 0 else math.copysign(math.inf, x - m) if x != m else 0.0
    z = z_poisson if abs(z_poisson) <= abs(z_robust) else z_robust
    ratio = x / m if m > 0 else None
    kind = None
    if x == 0 and m >= opts.busy and min(hist) > 0:
        kind = "zero"
    elif z >= zmin and x - m >= min_excess:
        kind = "spike"
    elif z <= -zmin and m - x >= min_excess:
        kind = "drop"
    if kind is None:
        return []
    severity = ("high" if m >= 30 else "medium") if kind == "zero" else _severity(z, ratio, zmin)
    unit = "hour" if common["granularity"] == "hour" else "day"
    words = {"spike": "spike", "drop": "drop", "zero": f"zero in a usually busy {unit}"}[kind]
    usual = "median of" if growth == 1.0 else f"trend ({100 * (growth - 1):+.1f}% a week) of"
    text = (f"{common['name']}: {words} in {_WORDS[metric]}, {fmt_int(x)} against a usual "
            f"{fmt_int(m)} ({usual} {len(hist)} previous weeks, score {z:+.1f})")
    return [{**common, "metric": metric, "kind": kind, "severity": severity, "value": x,
             "baseline": {"median": round(m, 2), "mad": round(d, 2), "values": hist, "weeks": len(hist),
                          "trend_per_week": round(growth, 4)},
             "z": round(z, 2), "excess": round(x - m, 1), "ratio": None if ratio is None else round(ratio, 2),
             "description": text}]


def _share(now: Mapping[str, int], hist: list[Mapping[str, int]], metric: str, nums: Sequence[str], den: str,
           zmin: float, opts: AnomalyOptions, common: Mapping[str, Any]) -> list[dict[str, Any]]:
    n = now[den]
    if n < opts.share_min_n:
        return []
    hits = sum(now[k] for k in nums)
    p = hits / n
    weeks = [h for h in hist if h[den] > 0]
    if len(weeks) < opts.min_weeks:
        return []
    shares = [sum(h[k] for k in nums) / h[den] for h in weeks]
    pooled = (sum(sum(h[k] for k in nums) for h in weeks) + 1) / (sum(h[den] for h in weeks) + 2)
    # Weekly shares of small counts are noise: their median is the centre only when every week is big.
    solid = min(h[den] for h in weeks) >= opts.share_min_n
    p0 = median(shares) if solid else pooled
    d = mad(shares) if solid else 0.0
    scale = max(1.4826 * d, math.sqrt(pooled * (1 - pooled) / n))
    z = (p - p0) / scale
    low, _high = wilson(hits, n, zmin / 2)
    if z < zmin or low - p0 < opts.share_points:
        return []
    ratio = p / p0 if p0 > 0 else None
    text = (f"{common['name']}: {_WORDS[metric]} {fmt_pct(100 * p)} of {fmt_int(n)} against a usual "
            f"{fmt_pct(100 * p0)} (previous {len(shares)} weeks, score {z:+.1f})")
    return [{**common, "metric": metric, "kind": "spike", "severity": _severity(z, ratio, zmin),
             "value": round(100 * p, 2), "n": n,
             "baseline": {"median": round(100 * p0, 2), "mad": round(100 * d, 2),
                          "values": [round(100 * s, 2) for s in shares], "weeks": len(shares)},
             "z": round(z, 2), "excess": round(100 * (p - p0), 2), "ratio": None if ratio is None else round(ratio, 2),
             "description": text}]


_SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2}


def incidents(anomalies: Sequence[Mapping[str, Any]], options: AnomalyOptions | None = None) -> list[dict[str, Any]]:
    """Group anomalies into incidents (touching hours, same direction) and name their drivers."""
    opts = options or AnomalyOptions()
    hourly = sorted((a for a in anomalies if a["granularity"] == "hour"), key=lambda a: a["start"])
    groups: list[dict[str, Any]] = []
    for a in hourly:
        direction = "up" if a["kind"] == "spike" else "down"
        for g in groups:
            if g["direction"] == direction and a["start"] <= g["end"] and a["end"] >= g["start"]:
                g["members"].append(a)
                g["end"] = max(g["end"], a["end"])
                break
        else:
            groups.append({"direction": direction, "start": a["start"], "end": a["end"], "members": [a]})
    daily = [a for a in anomalies if a["granularity"] == "day"]
    for a in daily:
        direction = "up" if a["kind"] == "spike" else "down"
        holder = next((g for g in groups if g["direction"] == direction
                       and a["start"] <= g["start"] < a["end"]), None)
        if holder is None:
            groups.append({"direction": direction, "start": a["start"], "end": a["end"], "members": [a]})
        else:
            holder["members"].append(a)
    out = []
    for g in sorted(groups, key=lambda g: g["start"]):
        out.append(_describe(g, opts))
    out.sort(key=lambda i: (_SEVERITY_RANK[i["severity"]], i["start"]))
    return out


def _describe(group: Mapping[str, Any], opts: AnomalyOptions) -> dict[str, Any]:
    members: list[Mapping[str, Any]] = group["members"]
    granularity = "hour" if any(m["granularity"] == "hour" for m in members) else "day"
    main = [m for m in members if m["granularity"] == granularity]
    metrics = sorted({m["metric"] for m in main}, key=lambda x: list(_WORDS).index(x))
    metric = metrics[0]
    overall = sum(m["excess"] for m in main if not m["segment"] and m["metric"] == metric)
    drivers: list[dict[str, Any]] = []
    seg_excess: dict[str, float] = {}
    names: dict[str, str] = {}
    for m in main:
        if m["segment"] and m["metric"] == metric:
            seg_excess[m["label"]] = seg_excess.get(m["label"], 0.0) + m["excess"]
            names[m["label"]] = m.get("name") or m["label"]
    for label, excess in sorted(seg_excess.items(),
                                key=lambda kv: (-round(abs(kv[1]) / 10), "(none)" in kv[0], kv[0])):
        share = excess / overall if overall else None
        if share is None or share >= opts.driver_share:
            drivers.append({"segment": label, "name": names[label], "excess": round(excess, 1),
                            "share_of_excess": None if share is None else round(100 * min(share, 1.0), 1)})
    severity = min((m["severity"] for m in members), key=lambda s: _SEVERITY_RANK[s])
    kinds = sorted({m["kind"] for m in main})
    span = span_words(group["start"], group["end"])
    what = and_list([_WORDS[x] for x in metrics])
    where = and_list([d["name"] for d in drivers[:3]])
    verb = STRENGTH_WORDS[(severity, group["direction"])]
    if "zero" in kinds and len(kinds) == 1:
        verb = "stopped"
    amount = f" ({'+' if overall >= 0 else ''}{fmt_int(overall)} {_WORDS[metric]} overall)" if overall else ""
    place = f", concentrated in {where}" if where else ", across all traffic"
    return {
        "start": group["start"], "end": group["end"], "granularity": granularity,
        "direction": group["direction"], "kinds": kinds, "severity": severity, "metrics": metrics,
        "excess": round(overall, 1), "drivers": drivers,
        "span": span, "where": where or "all traffic", "verb": verb, "summary": f"{what} {verb}{amount}",
        "headline": f"{span}: {what} {verb}{amount}{place}",
        "anomalies": len(members),
    }


def find_anomalies(
    hourly: Iterable[ReportResult],
    daily: Iterable[ReportResult],
    window: Window,
    *,
    options: AnomalyOptions | None = None,
) -> dict[str, Any]:
    """Anomalies in ``window`` from hourly and daily reports that start ``weeks`` weeks earlier.

    In each of ``hourly`` and ``daily`` the time-only report comes first: it lists every bucket of the
    window, which the per-segment reports (rows only where there were events) are zero-filled against.
    """
    opts = options or AnomalyOptions()
    found: list[dict[str, Any]] = []
    for granularity, results in (("hour", hourly), ("day", daily)):
        starts: list[str] | None = None
        for result in results:
            if not result.query.dimensions:
                starts = [row["bucket_start"] for row in result.rows]
            for series in series_from(result, starts if result.query.dimensions else None):
                found.extend(detect(series, granularity=granularity, start=window.start, end=window.end,
                                    options=opts))
    found.sort(key=lambda a: (_SEVERITY_RANK[a["severity"]], -abs(a["z"]), a["start"], a["label"], a["metric"]))
    return {
        "anomalies": found,
        "incidents": incidents(found, opts),
        "method": {"baseline": f"same local weekday and hour in the previous {opts.weeks} weeks",
                   "center": "median", "spread": "1.4826 * MAD, floored by Poisson / binomial noise",
                   "z_hour": opts.z_hour, "z_day": opts.z_day, "min_excess_hour": opts.min_excess_hour,
                   "min_excess_day": opts.min_excess_day, "share_points": 100 * opts.share_points},
    }


def _top_values(result: ReportResult, dim: str, limit: int, min_events: int) -> list[Any]:
    ranked = sorted((r for r in result.rows if r["received"] >= min_events),
                    key=lambda r: (-r["received"], str(r[dim])))
    return [r[dim] for r in ranked[:limit]]


def anomalies(
    ls: LeadStats,
    start: str | date | datetime | None = None,
    end: str | date | datetime | None = None,
    *,
    tz: str | None = None,
    dimensions: Sequence[str] = SEGMENT_DIMENSIONS,
    options: AnomalyOptions | None = None,
    limit: int | None = 100,
    filters: Any = None,
) -> dict[str, Any]:
    """Run the reports and find anomalies (default: the last 7 days up to the current local hour).

    Daily checks cover only whole local days inside the window; hourly checks only whole hours.
    ``filters`` (CONTRACT §3) scope every report, the baseline weeks included; a dimension a filter fixes
    to one value is not split again.

    >>> import leadstats
    >>> ls = leadstats.connect(":memory:")
    >>> anomalies(ls, "2026-03-01", "2026-03-08")["anomalies"]
    []
    """
    opts = options or AnomalyOptions()
    tz_name = ls.timezone(tz)
    window = resolve_window(start, end, tz_name, default_days=7, default_end="hour")
    now_hour = hour_start_us(tz_name)
    if window.start_us < now_hour < window.end_us:  # the future holds no events: not a "drop"
        window = window.shifted(end_us=now_hour)
    history = window.shifted(start_us=window.start_us - opts.weeks * WEEK_US)
    hour_end = window.end_us - (window.end_us - window.start_us) % HOUR_US
    hourly_window = history.shifted(end_us=hour_end)
    k = max(ls.settings.k_anonymity, 1)
    scope = [f.to_json() if isinstance(f, Filter) else list(f) for f in (filters or [])]
    fixed = {f[1] for f in scope if f[0] == "is" and len(f[2]) == 1}
    hourly = [ls.run(hourly_window.query(bucket="60m", filters=scope))]
    daily_window = _whole_days(history)
    daily = [ls.run(daily_window.query(bucket="1d", filters=scope))] if daily_window else []
    for dim in dimensions:
        if dim in fixed:
            continue  # one value only: its series is the overall one
        base = ls.run(history.query(dimensions=[dim], filters=scope))
        values = _top_values(base, dim, opts.top_segments, k * opts.weeks)
        if not values:
            continue
        flt = [*scope, ["is", dim, values]]
        hourly.append(ls.run(hourly_window.query(bucket="60m", dimensions=[dim], filters=flt)))
        if daily_window:
            daily.append(ls.run(daily_window.query(bucket="1d", dimensions=[dim], filters=flt)))
    doc = find_anomalies(hourly, daily, window, options=opts)
    doc["anomaly_count"] = len(doc["anomalies"])
    if limit is not None:
        doc["anomalies"] = doc["anomalies"][:limit]
    return {"window": window.to_dict(), "filters": scope, "baseline_weeks": opts.weeks, **doc}


def _whole_days(window: Window) -> Window | None:
    """The part of ``window`` made of whole local days (None when there is none)."""
    tz = window.tz
    first = window.start.date()
    start_us = local_midnight_us(first, tz)
    if start_us < window.start_us:
        start_us = local_midnight_us(first + timedelta(days=1), tz)
    end_us = local_midnight_us(window.end.date(), tz)
    return window.shifted(start_us=start_us, end_us=end_us) if start_us < end_us else None
