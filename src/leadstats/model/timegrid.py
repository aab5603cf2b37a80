"""Time windows and buckets on a timezone's wall clock (CONTRACT §3), in integer microseconds.

Everything here is pure and exact: instants are integer microseconds since the Unix epoch (UTC), UTC
offsets are integer microseconds, and a window is cut into *segments* of constant offset at the zone's
transitions. Backends then bucket with integer arithmetic per segment instead of a per-row time zone
call, and the same grid lists every bucket for zero fill and renders bucket starts with their offset.

The rule for sub-day buckets: a bucket starts at the latest instant at or before the event whose local
wall time is a multiple of the width after local midnight. Inside one segment those instants form a
lattice ``(t + offset) % width == 0``; across a transition the latest one may lie in an earlier segment,
which is what ``Segment.clamp_us`` carries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from ..errors import QueryError
from .schema import MAX_BUCKETS, Bucket

US = 1_000_000
DAY_US = 86_400 * US
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_DATE = date(1970, 1, 1)
# Offsets can change at most once in this span anywhere in tzdata since 1900.
_SCAN_STEP_US = 6 * 3600 * US

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_OFFSET_RE = re.compile(r"(Z|[+-]\d{2}(:?\d{2})?)$", re.IGNORECASE)


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` or a QueryError naming it."""
    if not isinstance(name, str) or not name or name.startswith(("/", ".")) or ".." in name:
        raise QueryError(f"unknown timezone {name!r}: use an IANA name such as Asia/Kolkata", field="timezone")
    return _zone(name)


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise QueryError(
            f"unknown timezone {name!r}: use an IANA name such as Asia/Kolkata", field="timezone"
        ) from None


def to_us(dt: datetime) -> int:
    """Aware datetime -> integer microseconds since the epoch."""
    delta = dt - EPOCH
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def offset_us(us: int, tz: ZoneInfo) -> int:
    off = from_us(us).astimezone(tz).utcoffset()
    assert off is not None
    return (off.days * 86_400 + off.seconds) * US + off.microseconds


def iso_local(us: int, tz: ZoneInfo) -> str:
    """ISO 8601 with the local offset, e.g. ``2026-03-07T10:00:00+05:30``."""
    dt = from_us(us).astimezone(tz)
    return dt.isoformat(timespec="milliseconds" if dt.microsecond else "seconds")


def local_midnight_us(day: date, tz: ZoneInfo) -> int:
    """First instant of local calendar ``day`` (midnight, or the end of a gap that swallowed it)."""
    naive = datetime(day.year, day.month, day.day)
    first = to_us(naive.replace(tzinfo=tz, fold=0))
    # In a gap, fold=0 maps with the earlier offset, which lands on or after the transition: the
    # first instant of the day. Guard against zones whose gap makes that instant belong to the day before.
    while local_day(first, tz) < (day - EPOCH_DATE).days:
        first += 15 * 60 * US
    return first


def local_day(us: int, tz: ZoneInfo) -> int:
    """Local calendar day number (days since 1970-01-01) of instant ``us``."""
    return (us + offset_us(us, tz)) // DAY_US


MIN_BOUND = datetime(1900, 1, 1, tzinfo=UTC)
MAX_BOUND = datetime(2200, 1, 1, tzinfo=UTC)


def parse_day(value: object, field: str) -> date:
    """A local calendar day given as a ``date`` or an ISO ``YYYY-MM-DD`` string (a datetime gives its date).

    >>> parse_day("2026-11-23", "today"), parse_day(date(2026, 11, 23), "today")
    (datetime.date(2026, 11, 23), datetime.date(2026, 11, 23))
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE_RE.match(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise QueryError(f"{field}: {value!r} is not a date (YYYY-MM-DD)", field=field)


def parse_bound(value: object, tz: ZoneInfo, field: str) -> int:
    """A window bound: a date is local midnight in ``tz``; an instant with offset is taken as is;
    a date-time without offset is read as local wall time in ``tz``. Bounds must lie in 1900..2199."""
    try:
        us = _parse_bound(value, tz, field)
    except OverflowError:
        us = -1 << 62
    if not to_us(MIN_BOUND) <= us <= to_us(MAX_BOUND):
        raise QueryError(f"{field}: {value!r} is outside the supported range 1900-01-01 .. 2200-01-01", field=field)
    return us


def _parse_bound(value: object, tz: ZoneInfo, field: str) -> int:
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=tz)
        return to_us(dt)
    if isinstance(value, date):
        return local_midnight_us(value, tz)
    if not isinstance(value, str) or not value.strip():
        raise QueryError(f"{field}: expected a date (YYYY-MM-DD) or an ISO 8601 instant", field=field)
    text = value.strip()
    try:
        if _DATE_RE.match(text):
            return local_midnight_us(date.fromisoformat(text), tz)
        dt = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "zZ" else text)
    except ValueError:
        raise QueryError(f"{field}: {value!r} is not a date (YYYY-MM-DD) or an ISO 8601 instant", field=field) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    elif abs(dt.utcoffset() or timedelta(0)) > timedelta(hours=18):  # same bound as ingest (ingest/validate.py)
        raise QueryError(f"{field}: {value!r} has an impossible UTC offset (offsets run -18:00..+18:00)", field=field)
    return to_us(dt)


@dataclass(frozen=True)
class Segment:
    """A stretch of constant UTC offset; ``start_us`` is None for the first one."""

    start_us: int | None
    offset_us: int
    clamp_us: int | None = None  # latest bucket boundary before start_us (fixed buckets only)


def offset_segments(start_us: int, end_us: int, tz: ZoneInfo) -> list[Segment]:
    """Constant-offset segments covering ``[start_us, end_us)``."""
    segments = [Segment(None, offset_us(start_us, tz))]
    t = start_us
    current = segments[0].offset_us
    while t < end_us:
        nxt = min(t + _SCAN_STEP_US, end_us)
        off = offset_us(nxt, tz) if nxt < end_us else offset_us(end_us - 1, tz)
        if off != current:
            lo, hi = t, nxt if nxt < end_us else end_us - 1  # offset(lo) == current, offset(hi) != current
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset_us(mid, tz) == current:
                    lo = mid
                else:
                    hi = mid
            segments.append(Segment(hi, off))
            current = off
            t = hi
            continue
        t = nxt
    return segments


@dataclass(frozen=True)
class TimeGrid:
    """The time side of one report: window, zone, segments and (optional) bucket."""

    tz: ZoneInfo
    start_us: int
    end_us: int
    bucket: Bucket | None
    segments: tuple[Segment, ...]

    @classmethod
    def build(cls, tz: ZoneInfo, start_us: int, end_us: int, bucket: Bucket | None, need_local: bool) -> TimeGrid:
        if start_us >= end_us:
            raise QueryError("from must be before to (the window is [from, to))", field="from")
        if bucket is not None:
            approx = (end_us - start_us) // (bucket.seconds * US)
            if approx > MAX_BUCKETS:
                raise QueryError(
                    f"the window holds about {approx:,} {bucket.name} buckets; the limit is {MAX_BUCKETS:,}:"
                    " use a shorter window or a wider bucket",
                    field="bucket",
                )
        # A fixed bucket can start up to one width before the window (and before a transition just
        # before it), so its segments reach back one width: the lattice must know where offsets change.
        reach = bucket.seconds * US if bucket is not None and bucket.kind == "fixed" else 0
        segs: list[Segment] = (
            offset_segments(start_us - reach, end_us, tz)
            if (bucket is not None or need_local)
            else [Segment(None, offset_us(start_us, tz))]
        )
        if bucket is not None and bucket.kind == "fixed":
            segs = _with_clamps(segs, bucket.seconds * US)
        grid = cls(tz, start_us, end_us, bucket, tuple(segs))
        if bucket is not None and len(grid.bucket_keys()) > MAX_BUCKETS:
            raise QueryError(
                f"the window holds more than {MAX_BUCKETS:,} {bucket.name} buckets: use a shorter window"
                " or a wider bucket",
                field="bucket",
            )
        return grid

    def fixed_bucket_start(self, us: int) -> int:
        """Pure-Python twin of the SQL bucket expression (used for the window's first bucket)."""
        assert self.bucket is not None and self.bucket.kind == "fixed"
        width = self.bucket.seconds * US
        seg = self.segments[0]
        for s in self.segments[1:]:
            if s.start_us is not None and s.start_us <= us:
                seg = s
        start = (us + seg.offset_us) // width * width - seg.offset_us
        if seg.clamp_us is None or seg.start_us is None or start >= seg.start_us:
            return start
        return seg.clamp_us  # the lattice point fell before this segment: the boundary lies earlier

    def bucket_keys(self) -> list[int]:
        """Every bucket key in the window, ascending (the zero-fill list).

        Keys are what the SQL returns: the bucket start in UTC microseconds for fixed buckets, the local
        day number for ``1d``, the local day number of Monday for ``1w`` and of the 1st for ``1mo``.
        """
        cached: list[int] | None = self.__dict__.get("_keys")
        if cached is not None:
            return cached
        assert self.bucket is not None
        kind = self.bucket.kind
        keys: list[int]
        if kind == "fixed":
            keys = self._fixed_keys()
        else:
            first = local_day(self.start_us, self.tz)
            last = local_day(self.end_us - 1, self.tz)
            if kind == "day":
                keys = list(range(first, last + 1))
            elif kind == "week":
                monday = first - (first + 3) % 7
                keys = list(range(monday, last + 1, 7))
            else:
                keys = []
                d = EPOCH_DATE + timedelta(days=first)
                m = date(d.year, d.month, 1)
                while (m - EPOCH_DATE).days <= last:
                    keys.append((m - EPOCH_DATE).days)
                    m = date(m.year + (m.month == 12), m.month % 12 + 1, 1)
        object.__setattr__(self, "_keys", keys)
        return keys

    def _fixed_keys(self) -> list[int]:
        assert self.bucket is not None
        width = self.bucket.seconds * US
        keys = {self.fixed_bucket_start(self.start_us)}
        bounds = [s.start_us or 0 for s in self.segments[1:]] + [self.end_us]
        lo = self.start_us
        for seg, hi in zip(self.segments, bounds, strict=True):
            seg_lo = lo if seg.start_us is None else max(lo, seg.start_us)
            first = -((-(seg_lo + seg.offset_us)) // width) * width - seg.offset_us  # ceil to lattice
            keys.update(range(first, hi, width))
            if len(keys) > MAX_BUCKETS + 1:
                break
        return sorted(keys)

    def key_start_us(self, key: int) -> int:
        """Bucket start instant for a SQL key."""
        assert self.bucket is not None
        if self.bucket.kind == "fixed":
            return key
        return local_midnight_us(EPOCH_DATE + timedelta(days=key), self.tz)

    def key_iso(self, key: int) -> str:
        return iso_local(self.key_start_us(key), self.tz)

    def labels(self, keys: list[int]) -> list[str]:
        """``key_iso`` for many keys at once. Fixed-bucket starts lie inside the grid's segments, so
        their offsets come from the segments and the formatting is one vectorized call."""
        if self.bucket is None or self.bucket.kind != "fixed" or not keys:
            return [self.key_iso(k) for k in keys]
        starts = np.asarray(keys, dtype=np.int64)
        bounds = np.asarray([s.start_us for s in self.segments[1:]], dtype=np.int64)
        offsets = np.asarray([s.offset_us for s in self.segments], dtype=np.int64)[
            np.searchsorted(bounds, starts, side="right")
        ]
        local = ((starts + offsets) // US).astype("datetime64[s]")
        texts = np.datetime_as_string(local, unit="s").tolist()  # YYYY-MM-DDTHH:MM:SS, in C
        return [t + _offset_text(int(o)) for t, o in zip(texts, offsets.tolist(), strict=True)]


@lru_cache(maxsize=64)
def _offset_text(offset: int) -> str:
    sign = "-" if offset < 0 else "+"
    minutes, seconds = divmod(abs(offset) // US, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{sign}{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")


def _with_clamps(segs: list[Segment], width: int) -> list[Segment]:
    """Attach to each later segment the latest lattice instant before it (see module docstring)."""
    out = [segs[0]]
    prev_start: int | None = None
    prev_clamp: int | None = None
    for prev, seg in zip(segs, segs[1:], strict=False):
        assert seg.start_us is not None
        last = seg.start_us - 1
        cand = (last + prev.offset_us) // width * width - prev.offset_us
        if prev_start is not None and cand < prev_start:
            cand = prev_clamp if prev_clamp is not None else cand
        out.append(Segment(seg.start_us, seg.offset_us, cand))
        prev_start, prev_clamp = seg.start_us, cand
    return out
