"""The registry of what leadstats knows: event fields, dimensions, metrics and buckets (CONTRACT §1-§3).

Every other layer takes names from here, so a dimension or metric that is not listed cannot reach SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .dimensions import DIMENSIONS, RENAMED, STRING_DIMENSIONS, Dimension, Kind, describe_dimensions
from .filters import describe_operators
from .metrics import METRIC_NAMES, METRICS, Metric, describe_metrics
from .rates import RATE_NAMES, RATES, Rate, describe_rates
from .vocabulary import (
    DEFAULT_SUSPICIOUS_MIN,
    DEFAULT_TIMEZONE,
    ENGAGEMENT_LABELS,
    EVENT_TYPES,
    FALSE_WORDS,
    HOT_LABELS,
    TRUE_WORDS,
)

REFERER_MAX = 500
EVENT_ID_MAX = 128
MAX_BUCKETS = 100_000

__all__ = [
    "DEFAULT_SUSPICIOUS_MIN", "DEFAULT_TIMEZONE", "DIMENSIONS", "ENGAGEMENT_LABELS", "EVENT_TYPES", "FALSE_WORDS",
    "HOT_LABELS",
    "METRICS", "METRIC_NAMES", "RATES", "RATE_NAMES", "RENAMED", "TRUE_WORDS", "Dimension", "Kind", "Metric",
    "Rate",
]

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
STRING_FIELDS: tuple[str, ...] = (*STRING_DIMENSIONS, "lead_id")

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
    """The schema document served by ``leadstats schema``, ``GET /api/v1/schema`` and MCP: every
    registry of the model (dimensions, metrics, rates, filter operators, buckets) as data."""
    return {
        "dimensions": describe_dimensions(),
        "metrics": describe_metrics(),
        "rates": describe_rates(),
        "buckets": list(BUCKETS),
        "bucket_aliases": BUCKET_ALIASES,
        "event_types": list(EVENT_TYPES),
        "engagement_labels": list(ENGAGEMENT_LABELS),
        "filter_ops": [o["name"] for o in describe_operators()],
        "filter_operators": describe_operators(),
        "renamed_dimensions": dict(RENAMED),
        "max_buckets": MAX_BUCKETS,
        "default_suspicious_min": DEFAULT_SUSPICIOUS_MIN,
    }
