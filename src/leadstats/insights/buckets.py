"""Partial buckets: the first or last time bucket of a report that the window covers only in part.

A ``1w`` report from a Tuesday starts with the week of the Monday before (CONTRACT §3 aligns weeks to
Monday), so its first row counts six days, not seven; a window ending mid-week cuts the last one. The
JSON rows stay as the contract says; tables and charts mark these buckets so nobody reads a short week
as a bad one.

>>> import leadstats
>>> ls = leadstats.connect(":memory:")
>>> sorted(partial_buckets(ls.report("2026-02-03", "2026-02-20", bucket="1w")))
['2026-02-02T00:00:00+05:30', '2026-02-16T00:00:00+05:30']
>>> partial_buckets(ls.report("2026-02-02", "2026-02-16", bucket="1w"))
set()
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from ..model.timegrid import US, local_midnight_us, zone

if TYPE_CHECKING:
    from ..model.report import ReportResult

PARTIAL_MARK = "*"
PARTIAL_NOTE = "* partial bucket: the window covers only part of it"


def _to_us(moment: datetime) -> int:
    return round(moment.timestamp() * US)


def bucket_end_us(start: str, kind: str, seconds: int, tz_name: str) -> int:
    """Where the bucket that starts at ``start`` (ISO, local offset) would end if the window allowed."""
    moment = datetime.fromisoformat(start)
    if kind == "fixed":
        return _to_us(moment) + seconds * US
    tz = zone(tz_name)
    day = moment.astimezone(tz).date()
    if kind == "day":
        nxt = day + timedelta(days=1)
    elif kind == "week":
        nxt = day + timedelta(days=7)
    else:
        nxt = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return local_midnight_us(nxt, tz)


def partial_buckets(result: ReportResult) -> set[str]:
    """The ``bucket_start`` values of the report's buckets that the window covers only in part."""
    bucket = result.query.bucket
    if bucket is None or not result.rows:
        return set()
    grid = result.query.grid
    starts = sorted({row["bucket_start"] for row in result.rows}, key=lambda s: datetime.fromisoformat(s))
    out: set[str] = set()
    first, last = starts[0], starts[-1]
    if _to_us(datetime.fromisoformat(first)) < grid.start_us:
        out.add(first)
    if bucket_end_us(last, bucket.kind, bucket.seconds, result.query.timezone) > grid.end_us:
        out.add(last)
    return out
