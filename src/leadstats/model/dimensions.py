"""The report dimensions (CONTRACT §3): every event field except ids and times, plus two local-time ones.

The event field ``vpn`` is the dimension ``vpn_suspected`` (true/false/null): ``vpn`` is also a
metric, and a report row cannot hold both under one key. ``vpn`` as a dimension or filter name is
refused with a message naming ``vpn_suspected``.

>>> DIMENSIONS["vpn_suspected"].column
'vpn'
>>> parse_dimensions("project, vpn_suspected")
('project', 'vpn_suspected')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..errors import QueryError
from .vocabulary import ENGAGEMENT_LABELS, EVENT_TYPES

Kind = Literal["string", "bool", "number", "int", "enum"]


@dataclass(frozen=True)
class Dimension:
    name: str
    kind: Kind
    description: str
    derived: bool = False  # computed from occurred_at in the report timezone
    field: str | None = None  # the stored event field, when it is not spelled like the dimension
    choices: tuple[str, ...] = ()  # the closed value set of an enum

    @property
    def column(self) -> str:
        return self.field or self.name


_STRING_DIMS = {
    "project": "Project (site or campaign property) the lead came in for",
    "source": "Traffic source / channel, e.g. google, meta, direct",
    "referer": "Submission page URL (cut to 500 characters)",
    "cta": "Call-to-action that opened the form",
    "utm_source": "UTM source",
    "utm_medium": "UTM medium",
    "utm_campaign": "UTM campaign",
    "utm_term": "UTM term",
    "utm_content": "UTM content",
    "country": "Visitor country, ISO 3166 alpha-2 (unknown names kept as given)",
    "region": "Visitor region / state",
    "city": "Visitor city",
    "phone_country_code": "Phone country code, e.g. +91",
}

DIMENSIONS: dict[str, Dimension] = {
    "event_type": Dimension("event_type", "enum", "primary, follow_up, test, blocked or bot", choices=EVENT_TYPES),
    **{name: Dimension(name, "string", desc) for name, desc in _STRING_DIMS.items()},
    "engagement_label": Dimension(
        "engagement_label", "enum", "Cold, Warm, Hot or Very Hot", choices=ENGAGEMENT_LABELS
    ),
    "vpn_suspected": Dimension("vpn_suspected", "bool", "VPN suspected (true/false/null): the event field vpn",
                               field="vpn"),
    "suspicion_score": Dimension("suspicion_score", "number", "Suspicion score 0..100"),
    "hour_of_day": Dimension("hour_of_day", "int", "Local hour 0..23 in the report timezone", True),
    "weekday": Dimension("weekday", "int", "Local weekday 1=Monday..7=Sunday in the report timezone", True),
}
#: Names refused as dimensions with a pointer to the right one.
RENAMED: dict[str, str] = {"vpn": "vpn_suspected"}
STRING_DIMENSIONS: tuple[str, ...] = tuple(_STRING_DIMS)


def check_dimension_name(name: object, field: str, *, what: str = "dimension") -> str:
    """``name`` if it is a dimension, else a :class:`QueryError` naming the choices."""
    if isinstance(name, str) and name in DIMENSIONS:
        return name
    if isinstance(name, str) and name in RENAMED:
        raise QueryError(
            f"{name!r} is a metric, not a {what}: use {RENAMED[name]!r} (true/false/null) to split or filter by it",
            field=field,
        )
    raise QueryError(f"unknown {what} {name!r}: use one of {', '.join(DIMENSIONS)}", field=field)


def parse_dimensions(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    dims: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise QueryError(f"dimension names must be strings, got {item!r}", field="dimensions")
        name = item.strip()
        if not name:
            continue
        check_dimension_name(name, "dimensions")
        if name in dims:
            raise QueryError(f"dimension {name!r} is listed twice", field="dimensions")
        dims.append(name)
    return tuple(dims)


def describe_dimensions() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for d in DIMENSIONS.values():
        item: dict[str, object] = {"name": d.name, "type": d.kind, "description": d.description}
        if d.choices:
            item["choices"] = list(d.choices)
        out.append(item)
    return out
