"""The registry of what leadstats knows: event fields, dimensions, metrics and buckets (CONTRACT §1-§3).

Every other layer takes names from here, so a dimension or metric that is not listed cannot reach SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EVENT_TYPES: tuple[str, ...] = ("primary", "follow_up", "test", "blocked", "bot")
ENGAGEMENT_LABELS: tuple[str, ...] = ("Cold", "Warm", "Hot", "Very Hot")
HOT_LABELS: tuple[str, ...] = ("Hot", "Very Hot")
REFERER_MAX = 500
EVENT_ID_MAX = 128
DEFAULT_SUSPICIOUS_MIN = 40.0
DEFAULT_TIMEZONE = "Asia/Kolkata"  # LEADSTATS_TZ overrides it (Settings.timezone)
#: How a yes/no value may be spelled, in events and in filters (lower case).
TRUE_WORDS: tuple[str, ...] = ("true", "1", "yes", "t", "y", "1.0")
FALSE_WORDS: tuple[str, ...] = ("false", "0", "no", "f", "n", "0.0")
MAX_BUCKETS = 100_000

Kind = Literal["string", "bool", "number", "int", "enum"]


@dataclass(frozen=True)
class Dimension:
    name: str
    kind: Kind
    description: str
    derived: bool = False  # computed from occurred_at in the report timezone


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
    "event_type": Dimension("event_type", "enum", "primary, follow_up, test, blocked or bot"),
    **{name: Dimension(name, "string", desc) for name, desc in _STRING_DIMS.items()},
    "engagement_label": Dimension("engagement_label", "enum", "Cold, Warm, Hot or Very Hot"),
    "vpn": Dimension("vpn", "bool", "VPN suspected (true/false)"),
    "suspicion_score": Dimension("suspicion_score", "number", "Suspicion score 0..100"),
    "hour_of_day": Dimension("hour_of_day", "int", "Local hour 0..23 in the report timezone", True),
    "weekday": Dimension("weekday", "int", "Local weekday 1=Monday..7=Sunday in the report timezone", True),
}

# Stored columns of an event, in store order (CONTRACT §1).
EVENT_COLUMNS: tuple[str, ...] = (
    "event_id",
    "event_type",
    "occurred_at",
    "project",
    "source",
    "referer",
    "cta",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "engagement_label",
    "vpn",
    "suspicion_score",
    "country",
    "region",
    "city",
    "phone_country_code",
    "lead_id",
)
STRING_FIELDS: tuple[str, ...] = (*_STRING_DIMS, "lead_id")

#: CONTRACT §5: event field -> Workers Analytics Engine column (``lead_submissions`` dataset defaults).
#: ``primary_flag`` (blob5, "1" primary / "0" follow-up) gives ``event_type`` when blob20 is empty;
#: ``occurred_at`` is the data point's ``timestamp`` and every count is a sum of ``_sample_interval``.
AE_FIELD_COLUMNS: dict[str, str] = {
    "project": "blob1",
    "source": "blob2",
    "referer": "blob3",
    "cta": "blob4",
    "primary_flag": "blob5",
    "phone_country_code": "blob6",
    "utm_source": "blob10",
    "utm_medium": "blob11",
    "utm_campaign": "blob12",
    "utm_term": "blob13",
    "utm_content": "blob14",
    "engagement_label": "blob15",
    "country": "blob16",
    "city": "blob17",
    "region": "blob18",
    "event_type": "blob20",
    "suspicion_score": "double2",
    "vpn": "double8",
}


@dataclass(frozen=True)
class Metric:
    name: str
    description: str


METRICS: tuple[Metric, ...] = (
    Metric("received", "Every event in the window, all five types"),
    Metric("submissions", "primary + follow_up (accepted submits)"),
    Metric("primary", "Actual leads: event_type primary"),
    Metric("follow_up", "Follow-up submits of an existing lead"),
    Metric("test", "Submits from whitelisted testing IPs"),
    Metric("blocked", "Submits from blocked IPs"),
    Metric("bot", "Honeypot-caught bot submits"),
    Metric("vpn", "Primary events with vpn true"),
    Metric("suspicious", "Primary events with suspicion_score >= suspicious_min"),
    Metric("hot", "Primary events with engagement_label Hot or Very Hot"),
)
METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in METRICS)


@dataclass(frozen=True)
class Bucket:
    name: str
    kind: Literal["fixed", "day", "week", "month"]
    seconds: int  # width for fixed buckets; nominal width otherwise (used for size estimates only)


BUCKETS: dict[str, Bucket] = {
    "15m": Bucket("15m", "fixed", 900),
    "30m": Bucket("30m", "fixed", 1800),
    "60m": Bucket("60m", "fixed", 3600),
    "2h": Bucket("2h", "fixed", 7200),
    "3h": Bucket("3h", "fixed", 10800),
    "4h": Bucket("4h", "fixed", 14400),
    "6h": Bucket("6h", "fixed", 21600),
    "12h": Bucket("12h", "fixed", 43200),
    "1d": Bucket("1d", "day", 86400),
    "1w": Bucket("1w", "week", 7 * 86400),
    "1mo": Bucket("1mo", "month", 28 * 86400),
}
BUCKET_ALIASES: dict[str, str] = {
    "1h": "60m",
    "15min": "15m",
    "30min": "30m",
    "60min": "60m",
    "120m": "2h",
    "180m": "3h",
    "240m": "4h",
    "360m": "6h",
    "720m": "12h",
    "day": "1d",
    "24h": "1d",
    "week": "1w",
    "month": "1mo",
}


def describe() -> dict[str, object]:
    """The schema document served by ``leadstats schema``, ``GET /api/v1/schema`` and MCP."""
    return {
        "dimensions": [{"name": d.name, "type": d.kind, "description": d.description} for d in DIMENSIONS.values()],
        "metrics": [{"name": m.name, "description": m.description} for m in METRICS],
        "buckets": list(BUCKETS),
        "bucket_aliases": BUCKET_ALIASES,
        "event_types": list(EVENT_TYPES),
        "engagement_labels": list(ENGAGEMENT_LABELS),
        "filter_ops": ["is", "is_not", "contains"],
        "max_buckets": MAX_BUCKETS,
        "default_suspicious_min": DEFAULT_SUSPICIOUS_MIN,
    }
