"""Plain words for insight texts: the one place that names a segment and the one that formats a time span.

JSON fields keep their machine form (``label: "utm_campaign=mega_sale_broad"``); every sentence a person
reads (focus reasons, anomaly headlines, digest actions) goes through these functions instead.

>>> segment_name({"utm_campaign": "mega_sale_broad"})
'campaign mega_sale_broad'
>>> segment_name({"project": "Skyline", "country": "IN"})
'project Skyline in country IN'
>>> segment_name({"utm_campaign": None})
'traffic without a campaign'
>>> and_list(["a", "b", "c"])
'a, b and c'
>>> span_words("2026-11-29T01:00:00+05:30", "2026-11-29T04:00:00+05:30")
'Sun 29 Nov, 01:00–04:00'
>>> span_words("2026-02-23T00:00:00+05:30", "2026-03-02T00:00:00+05:30")
'Mon 23 Feb – Sun 1 Mar'
>>> span_words("2026-02-27T00:00:00+05:30", "2026-02-28T00:00:00+05:30")
'Fri 27 Feb'
>>> hour_range(16, 22)
'16:00–22:00'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

#: dimension -> the noun a marketer uses for it
DIMENSION_WORDS: dict[str, str] = {
    "utm_campaign": "campaign",
    "utm_source": "ad source",
    "utm_medium": "ad medium",
    "utm_term": "ad keyword",
    "utm_content": "ad variant",
    "source": "source",
    "project": "project",
    "country": "country",
    "region": "region",
    "city": "city",
    "cta": "button",
    "referer": "referring page",
    "event_type": "event type",
    "engagement_label": "engagement",
    "phone_country_code": "phone code",
    "vpn_suspected": "VPN suspected",
    "hour_of_day": "hour",
    "weekday": "weekday",
}
_GEO = ("country", "region", "city")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def dimension_word(dim: str) -> str:
    return DIMENSION_WORDS.get(dim, dim.replace("_", " "))


def value_words(dim: str, value: Any) -> str:
    """``campaign mega_sale_broad``; a missing value reads ``traffic without a campaign``."""
    noun = dimension_word(dim)
    if value is None or value == "":
        return f"traffic without {'an' if noun[0] in 'aeiou' else 'a'} {noun}"
    return f"{noun} {value}"


def segment_name(segment: Mapping[str, Any]) -> str:
    """A segment in words: ``campaign x``, ``project p in country IN``, ``source s, campaign c``; ``{}`` is
    ``all traffic``."""
    if not segment:
        return "all traffic"
    parts = [(d, value_words(d, v)) for d, v in segment.items()]
    out = parts[0][1]
    for dim, words in parts[1:]:
        out += (" in " if dim in _GEO else ", ") + words
    return out


def and_list(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def day_words(day: date, *, weekday: bool = True) -> str:
    """``Sun 29 Nov``."""
    text = f"{day.day} {MONTHS[day.month - 1]}"
    return f"{WEEKDAYS[day.weekday()]} {text}" if weekday else text


def days_words(first: date | str, last: date | str) -> str:
    """Whole local days ``first``..``last`` (inclusive): ``Fri 27 Feb`` or ``Mon 23 Feb – Sun 1 Mar``."""
    a = date.fromisoformat(first) if isinstance(first, str) else first
    b = date.fromisoformat(last) if isinstance(last, str) else last
    return day_words(a) if a == b else f"{day_words(a)} – {day_words(b)}"


def hour_range(from_hour: int, to_hour: int) -> str:
    """``16:00–22:00`` (hours of the day; 24 reads 00:00)."""
    return f"{from_hour % 24:02d}:00–{to_hour % 24:02d}:00"


def span_words(start: str | datetime, end: str | datetime) -> str:
    """A local time span ``[start, end)`` (ISO with offset, or aware datetimes) in words.

    Whole days read as days (``Fri 27 Feb``, ``Mon 23 Feb – Sun 1 Mar``); within one day
    ``Sun 29 Nov, 01:00–04:00``; across midnight ``Sat 28 Nov 22:00 – Sun 29 Nov 02:00``.
    """
    a = datetime.fromisoformat(start) if isinstance(start, str) else start
    b = datetime.fromisoformat(end) if isinstance(end, str) else end
    if a.time() == b.time() == datetime.min.time():
        return days_words(a.date(), b.date() - timedelta(days=1))
    last = b - timedelta(microseconds=1)
    if a.date() == last.date():
        return f"{day_words(a.date())}, {a:%H:%M}–{b:%H:%M}"
    return f"{day_words(a.date())} {a:%H:%M} – {day_words(b.date())} {b:%H:%M}"


def window_words(window: Mapping[str, Any]) -> str:
    """An insight's ``window`` (``{"from", "to", ...}``) in words."""
    return span_words(window["from"], window["to"])


def pct_words(value: float | None) -> str:
    """A percentage for a sentence: ``43%``, ``4.2%``, ``—``."""
    if value is None:
        return "—"  # a number that does not exist (docs/semantics.md "Words for people")
    return f"{value:.0f}%" if abs(value) >= 10 else f"{value:.1f}%"
