"""Pieces every insight shares: analysis windows, rates with Wilson bounds, robust statistics.

Everything here is pure: no store, no I/O. Rates follow the summary's definitions
(:data:`leadstats.model.rates.RATES`, the one definition), so an insight's ``hot_pct`` is the dashboard's ``hot_pct``.

>>> lo, hi = wilson(3, 3)          # 3 of 3 hot: the bound stays modest
>>> round(lo, 2), round(hi, 2)
(0.44, 1.0)
>>> lo, hi = wilson(180, 300)      # 60% of 300: a tight interval
>>> round(lo, 3), round(hi, 3)
(0.544, 0.654)
>>> median([4, 1, 3]), mad([1, 2, 3, 4, 100])
(3.0, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import QueryError
from ..model.rates import RATE_BY_NAME, rate_values
from ..model.report import ReportQuery, ReportResult
from ..model.timegrid import DAY_US, US, from_us, iso_local, local_midnight_us, parse_bound, zone

if TYPE_CHECKING:
    from ..service import LeadStats

HOUR_US = 3600 * US
WEEK_US = 7 * DAY_US
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
NONE_LABEL = "(none)"
OTHER = "other"


def wilson(successes: float, trials: float, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; ``(0, 1)`` when there are no trials."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    z2 = z * z
    denom = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denom
    half = z * math.sqrt(max(p * (1 - p) / trials + z2 / (4 * trials * trials), 0.0)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator`` or ``None`` when the denominator is 0."""
    return numerator / denominator if denominator else None


def pct(value: float | None, digits: int = 2) -> float | None:
    """A 0..1 fraction as a percentage, rounded; ``None`` stays ``None``."""
    return None if value is None else round(100.0 * value, digits)


def ratio_parts(metrics: Mapping[str, Any], name: str) -> tuple[int, int]:
    """Numerator and denominator of one of the summary's ratios (``hot_pct``, ``bot_rate``, ...)."""
    return RATE_BY_NAME[name].parts(metrics)


def rates(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    """Every summary ratio of a metrics row, in percent (``None`` when its denominator is 0)."""
    return rate_values(metrics)


def median(values: Sequence[float]) -> float:
    """The median (0.0 for an empty sequence)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    mid = len(ordered) // 2
    return float(ordered[mid]) if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def mad(values: Sequence[float]) -> float:
    """Median absolute deviation from the median (unscaled)."""
    if not values:
        return 0.0
    m = median(values)
    return median([abs(v - m) for v in values])


def segment_label(segment: Mapping[str, Any]) -> str:
    """``project=Skyline Residences × country=IN``; a null value reads ``(none)``, no segment ``overall``."""
    if not segment:
        return "overall"
    return " × ".join(f"{k}={NONE_LABEL if v is None else v}" for k, v in segment.items())


def fmt_int(value: float) -> str:
    return f"{round(value):,}"


def fmt_pct(value: float | None) -> str:
    if value is None:
        return "—"  # a number that does not exist (docs/semantics.md "Words for people")
    return f"{value:.0f}%" if abs(value) >= 10 else f"{value:.1f}%"


@dataclass(frozen=True)
class Window:
    """An analysis window ``[start_us, end_us)`` in a named timezone."""

    start_us: int
    end_us: int
    timezone: str

    @property
    def tz(self) -> Any:
        return zone(self.timezone)

    @property
    def start(self) -> datetime:
        return from_us(self.start_us).astimezone(self.tz)

    @property
    def end(self) -> datetime:
        return from_us(self.end_us).astimezone(self.tz)

    @property
    def days(self) -> float:
        return (self.end_us - self.start_us) / DAY_US

    def query(self, **options: Any) -> ReportQuery:
        """A report query over this window (``bucket``, ``dimensions``, ``filters``, ``suspicious_min``)."""
        return ReportQuery.create(self.start, self.end, timezone=self.timezone, **options)

    def report(self, ls: LeadStats, **options: Any) -> ReportResult:
        """Run a report over this window through the one service call (``ls.report``)."""
        return ls.report(self.start, self.end, timezone=self.timezone, **options)

    def shifted(self, start_us: int | None = None, end_us: int | None = None) -> Window:
        return Window(self.start_us if start_us is None else start_us,
                      self.end_us if end_us is None else end_us, self.timezone)

    def to_dict(self) -> dict[str, str]:
        return {"from": iso_local(self.start_us, self.tz), "to": iso_local(self.end_us, self.tz),
                "timezone": self.timezone}


def today_start_us(tz_name: str, now: datetime | None = None) -> int:
    """Local midnight that starts today (or the day of ``now``) in ``tz_name``."""
    tz = zone(tz_name)
    moment = now.astimezone(tz) if now is not None else datetime.now(tz)
    return local_midnight_us(moment.date(), tz)


def hour_start_us(tz_name: str, now: datetime | None = None) -> int:
    """Start of the current local hour (of ``now``)."""
    tz = zone(tz_name)
    moment = now.astimezone(tz) if now is not None else datetime.now(tz)
    return parse_bound(moment.replace(minute=0, second=0, microsecond=0), tz, "to")


def resolve_window(
    start: str | date | datetime | None,
    end: str | date | datetime | None,
    tz_name: str,
    *,
    default_days: int,
    default_end: str = "day",
    now: datetime | None = None,
) -> Window:
    """The window an insight reads: ``[start, end)``; dates are local midnight (CONTRACT §3).

    Without ``end`` it ends at today's local midnight (``default_end="day"``: whole days only) or at the
    start of the current local hour (``"hour"``); without ``start`` it spans ``default_days`` local days.
    """
    tz = zone(tz_name)
    if end is None:
        end_us = today_start_us(tz_name, now) if default_end == "day" else hour_start_us(tz_name, now)
    else:
        end_us = parse_bound(end, tz, "to")
    if start is None:
        if _is_midnight(end_us, tz_name):
            end_date = from_us(end_us).astimezone(tz).date()
            start_us = local_midnight_us(end_date - timedelta(days=default_days), tz)
        else:
            start_us = end_us - default_days * DAY_US
    else:
        start_us = parse_bound(start, tz, "from")
    if start_us >= end_us:
        raise QueryError("from must be before to (the window is [from, to))", field="from")
    return Window(start_us, end_us, tz_name)


def _is_midnight(us: int, tz_name: str) -> bool:
    tz = zone(tz_name)
    return local_midnight_us(from_us(us).astimezone(tz).date(), tz) == us


def local_parts(iso: str) -> tuple[int, int, str]:
    """``(weekday 1..7, hour 0..23, date)`` of a §4 ``bucket_start`` (already local, with offset)."""
    moment = datetime.fromisoformat(iso)
    return moment.isoweekday(), moment.hour, moment.date().isoformat()
