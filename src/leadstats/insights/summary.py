"""KPI summary: the last N full local days against the N days before (HTTP ``GET /api/v1/summary``).

Every front end (HTTP API, dashboard, MCP, digest) calls :func:`summary` and gets the same document,
so its field names are part of the public contract (documented in ``docs/http-api.md``)::

    {
      "timezone": "Asia/Kolkata", "days": 7, "project": null, "suspicious_min": 40,
      "current":  {"from": "2026-03-01T00:00:00+05:30", "to": "2026-03-08T00:00:00+05:30",
                   "first_day": "2026-03-01", "last_day": "2026-03-07"},
      "previous": {"from": "2026-02-22T00:00:00+05:30", "to": "2026-03-01T00:00:00+05:30",
                   "first_day": "2026-02-22", "last_day": "2026-02-28"},
      "metrics": {
        "received":    {"value": 120, "previous": 100, "change": 20, "change_pct": 20.0},
        "primary":     {...}, "submissions": {...},
        "actual_pct":  {"value": 62.5, "previous": 60.0, "change": 2.5, "change_pct": 4.17},
        "hot_pct": {...}, "bot_rate": {...}, "vpn_pct": {...}, "suspicious_pct": {...}
      },
      "top_projects":  [{"project": "Skyline", "primary": 40, "previous_primary": 35,
                        "change_pct": 14.29, "hot": 12, "hot_pct": 30.0}, ...],   # at most 5
      "top_countries": [{"country": "IN", ...same fields...}, ...]                 # at most 3
    }

Rules:
- "full local days": the current window is ``[today - N days, today)`` at local midnight in ``tz``;
  today (incomplete) is never counted. The previous window is the N days just before it.
- Ratios are the five rates of CONTRACT §2 (:data:`leadstats.model.rates.RATES`, the one definition):
  shares in percent from 0 to 100, rounded to 2 decimals, ``null`` when the denominator is 0.
- ``change`` = value - previous (percentage points for ratios); ``change_pct`` = relative change in
  percent (:func:`leadstats.model.rates.change_pct`), ``null`` when previous is 0 or null.
- Top lists rank by primary in the current window (ties: name), skip groups with no primary events;
  a missing project or country is the group ``null``.

>>> import leadstats
>>> from datetime import date
>>> ls = leadstats.connect(":memory:")
>>> _ = ls.ingest([{"event_id": "a", "event_type": "primary", "occurred_at": "2026-03-05T06:00:00Z",
...                 "project": "Skyline", "engagement_label": "Hot", "country": "India"}])
>>> doc = summary(ls, days=7, today=date(2026, 3, 8))
>>> doc["metrics"]["primary"]["value"], doc["metrics"]["hot_pct"]["value"], doc["top_countries"][0]["country"]
(1, 100.0, 'IN')
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import QueryError
from ..model.rates import RATE_BY_NAME, RATE_NAMES, RATES, change_pct, rate_values, share_pct
from ..model.report import make_filter
from ..model.timegrid import iso_local, local_midnight_us, parse_day, zone
from ..model.vocabulary import DEFAULT_SUSPICIOUS_MIN

if TYPE_CHECKING:
    from ..service import LeadStats

__all__ = ["MAX_DAYS", "RATIOS", "SUMMARY_METRICS", "change_block", "pct", "summary"]

MAX_DAYS = 366
COUNT_METRICS: tuple[str, ...] = ("received", "primary", "submissions")
#: rate name -> (numerator metrics, denominator metric), read from the one rate registry.
RATIOS: dict[str, tuple[tuple[str, ...], str]] = {r.name: (r.numerator, r.denominator) for r in RATES}
SUMMARY_METRICS: tuple[str, ...] = (*COUNT_METRICS, *RATE_NAMES)
TOP_PROJECTS = 5
TOP_COUNTRIES = 3
#: A share in percent (kept under its old name for callers; see :func:`leadstats.model.rates.share_pct`).
pct = share_pct


def change_block(value: float | None, previous: float | None) -> dict[str, Any]:
    """``{"value", "previous", "change", "change_pct"}`` with the summary's rounding and null rules."""
    if value is None or previous is None:
        return {"value": value, "previous": previous, "change": None, "change_pct": None}
    diff = value - previous
    change: float | int = round(diff, 2) if isinstance(diff, float) else diff
    return {"value": value, "previous": previous, "change": change, "change_pct": change_pct(value, previous)}


def _window(start: date, days: int, tz_name: str) -> dict[str, str]:
    tz = zone(tz_name)
    end = start + timedelta(days=days)
    return {
        "from": iso_local(local_midnight_us(start, tz), tz),
        "to": iso_local(local_midnight_us(end, tz), tz),
        "first_day": start.isoformat(),
        "last_day": (end - timedelta(days=1)).isoformat(),
    }


def _kpis(current: dict[str, Any], previous: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The counts of COUNT_METRICS and the five rates, each as a change block."""
    metrics = {name: change_block(current[name], previous[name]) for name in COUNT_METRICS}
    now, before = rate_values(current), rate_values(previous)
    metrics.update({name: change_block(now[name], before[name]) for name in RATE_NAMES})
    return metrics


def _top_list(now_rows: list[dict[str, Any]], before_rows: list[dict[str, Any]], dim: str,
              limit: int) -> list[dict[str, Any]]:
    """The top ``limit`` groups of ``dim`` by primary (ties: name, null last), against the window before."""
    before = {row[dim]: row["primary"] for row in before_rows}
    ranked = sorted(
        (r for r in now_rows if r["primary"] > 0), key=lambda r: (-r["primary"], r[dim] is None, str(r[dim]))
    )
    out = []
    for row in ranked[:limit]:
        prev_primary = before.get(row[dim], 0)
        out.append({
            dim: row[dim],
            "primary": row["primary"],
            "previous_primary": prev_primary,
            "change_pct": change_pct(row["primary"], prev_primary),
            "hot": row["hot"],
            "hot_pct": RATE_BY_NAME["hot_pct"].value(row),
        })
    return out


def summary(
    ls: LeadStats,
    *,
    days: int = 7,
    tz: str | None = None,
    project: str | None = None,
    today: date | str | None = None,
) -> dict[str, Any]:
    """KPIs for the last ``days`` full local days in ``tz`` against the ``days`` before (see module doc).

    ``project`` restricts every figure to one project; ``today`` (a local date or ``"YYYY-MM-DD"``,
    default: now in ``tz``) is the first day *not* counted.
    """
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise QueryError(f"days must be a whole number from 1 to {MAX_DAYS}, got {days!r}", field="days")
    tz_name = ls.timezone(tz)
    tzinfo = zone(tz_name)
    today = datetime.now(tzinfo).date() if today is None else parse_day(today, "today")
    if not 1972 <= today.year <= 2199:  # both windows stay inside the storable 1970..2199
        raise QueryError(f"today {today.isoformat()} is out of range (1972..2199)", field="today")
    cur_start = today - timedelta(days=days)
    prev_start = cur_start - timedelta(days=days)
    filters = [make_filter("is", "project", [project])] if project is not None else []

    def totals(start: date, dims: tuple[str, ...] = ()) -> Any:
        return ls.report(start, start + timedelta(days=days), timezone=tz_name, dimensions=dims, filters=filters)

    def top(dim: str, limit: int) -> list[dict[str, Any]]:
        return _top_list(totals(cur_start, (dim,)).rows, totals(prev_start, (dim,)).rows, dim, limit)

    metrics = _kpis(totals(cur_start).totals, totals(prev_start).totals)

    return {
        "timezone": tz_name,
        "days": days,
        "project": project,
        "suspicious_min": int(DEFAULT_SUSPICIOUS_MIN),
        "current": _window(cur_start, days, tz_name),
        "previous": _window(prev_start, days, tz_name),
        "metrics": metrics,
        "top_projects": top("project", TOP_PROJECTS),
        "top_countries": top("country", TOP_COUNTRIES),
    }
