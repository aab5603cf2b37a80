"""Pydantic models that describe the API in OpenAPI: request bodies, response documents, examples.

Responses are built by the service (``ReportResult.to_dict()``, ``summary()``...) and sent as they are;
these models only document them (``responses=`` in the routes), so serving costs no re-validation.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..model.schema import METRIC_NAMES, RATE_NAMES

EXAMPLE_EVENT: dict[str, Any] = {
    "event_id": "sub-2026-03-07-000123",
    "event_type": "primary",
    "occurred_at": "2026-03-07T10:12:00+05:30",
    "project": "Skyline",
    "source": "google",
    "referer": "https://skyline.example/pricing",
    "cta": "book-visit",
    "utm_source": "google",
    "utm_medium": "cpc",
    "utm_campaign": "spring",
    "engagement_label": "Hot",
    "vpn": False,
    "suspicion_score": 12,
    "country": "IN",
    "region": "Karnataka",
    "city": "Bengaluru",
    "phone_country_code": "+91",
    "lead_id": "9f2c1a7e",
}
EXAMPLE_METRICS: dict[str, Any] = {
    "received": 12,
    "submissions": 10,
    "primary": 7,
    "follow_up": 3,
    "test": 0,
    "blocked": 1,
    "bot": 1,
    "vpn": 1,
    "suspicious": 2,
    "hot": 3,
}
EXAMPLE_QUERY: dict[str, Any] = {
    "date_range": ["2026-03-01", "2026-03-08"],
    "timezone": "Asia/Kolkata",
    "bucket": "60m",
    "dimensions": ["project", "country"],
    "filters": [["is", "source", ["google", "meta"]]],
    "suspicious_min": 40,
}


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. invalid_query, unauthorized, too_large")
    message: str = Field(description="What went wrong, for people")
    field: str | None = Field(None, description="The parameter or body field at fault, when there is one")


class ErrorResponse(BaseModel):
    """Every error: ``{"error": {"code", "message", "field"}}``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"error": {"code": "invalid_query", "message": "unknown bucket '7m'", "field": "bucket"}}]
        }
    )
    error: ErrorBody


class QueryBody(BaseModel):
    """The JSON report query (CONTRACT §3). Give ``date_range`` or ``from`` + ``to``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, json_schema_extra={"examples": [EXAMPLE_QUERY]})
    date_range: list[str] | None = Field(
        None,
        min_length=2,
        max_length=2,
        description="[from, to): a date is local midnight in `timezone`; an instant with offset is taken as is",
        examples=[["2026-03-01", "2026-03-08"]],
    )
    from_: str | None = Field(None, alias="from", description="Start (inclusive), instead of date_range")
    to: str | None = Field(None, description="End (exclusive), instead of date_range")
    timezone: str | None = Field(None, description="IANA timezone (default Asia/Kolkata)", examples=["Asia/Kolkata"])
    bucket: str | None = Field(
        None, description="15m 30m 60m|1h 2h 3h 4h 6h 12h 1d 1w 1mo, or null for none", examples=["60m"]
    )
    dimensions: list[str] | str | None = Field(
        None, description="Dimensions to split by (GET /api/v1/schema lists them)", examples=[["project"]]
    )
    filters: list[list[Any] | dict[str, Any]] | None = Field(
        None,
        description="[[op, dimension, [values]]] with op is | is_not | contains; ANDed",
        examples=[[["is", "country", ["IN", "US"]], ["contains", "referer", ["pricing"]]]],
    )
    suspicious_min: float | None = Field(
        None, ge=-1e9, le=1e9, description="Suspicion threshold (default 40)", examples=[40]
    )
    rates: bool | None = Field(
        None, description="Add the five rates of CONTRACT §2 to every row and the totals", examples=[True]
    )

    def to_query_doc(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class ReportQueryEcho(BaseModel):
    from_: str = Field(alias="from")
    to: str
    timezone: str
    bucket: str | None
    dimensions: list[str]
    filters: list[list[Any]]
    suspicious_min: float
    rates: bool | None = Field(None, description="present (true) when the rates were asked for")


class ReportDocument(BaseModel):
    """The report result (CONTRACT §4)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "query": {
                        "from": "2026-03-07T00:00:00+05:30",
                        "to": "2026-03-08T00:00:00+05:30",
                        "timezone": "Asia/Kolkata",
                        "bucket": "30m",
                        "dimensions": ["project"],
                        "filters": [],
                        "suspicious_min": 40,
                    },
                    "rows": [{"bucket_start": "2026-03-07T10:00:00+05:30", "project": "Skyline", **EXAMPLE_METRICS}],
                    "totals": EXAMPLE_METRICS,
                    "meta": {"backend": "duckdb", "elapsed_ms": 4.2},
                }
            ]
        }
    )
    query: ReportQueryEcho
    rows: list[dict[str, Any]] = Field(
        description="bucket_start (ISO 8601 with the local offset; absent without a bucket), the dimensions, "
        "then the metrics " + ", ".join(METRIC_NAMES) + " (with rates=true, then the rates " + ", ".join(RATE_NAMES)
        + ": percent, 2 decimals, null when the denominator is 0)"
    )
    totals: dict[str, int | float | None] = Field(description="the metrics (and with rates=true the rates) in total")
    meta: dict[str, Any]


class RejectedEvent(BaseModel):
    index: int = Field(description="0-based position in the array (or among the non-empty JSON Lines)")
    event_id: str | None
    field: str = Field(description="The first field that failed, or `record` for a non-object / bad JSON")
    error: str


class IngestResponse(BaseModel):
    """Counts for this request: accepted (new, now durable), duplicates (already stored or repeated), rejected."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "accepted": 998,
                    "duplicates": 1,
                    "rejected": [{"index": 17, "event_id": "sub-17", "field": "occurred_at", "error": "is required"}],
                }
            ]
        }
    )
    accepted: int
    duplicates: int
    rejected: list[RejectedEvent]
    redacted: int | None = Field(
        None, description="Accepted records with an e-mail- or phone-shaped value replaced by [redacted] (absent: 0)"
    )


class Change(BaseModel):
    value: float | None
    previous: float | None
    change: float | None = Field(description="value - previous (percentage points for ratios)")
    change_pct: float | None = Field(description="Relative change in percent; null when previous is 0 or null")


class Window(BaseModel):
    from_: str = Field(alias="from")
    to: str
    first_day: str
    last_day: str


class SummaryDocument(BaseModel):
    """KPIs for the last N full local days against the N days before (see docs/http-api.md)."""

    timezone: str
    days: int
    project: str | None
    suspicious_min: float
    current: Window
    previous: Window
    metrics: dict[str, Change] = Field(
        description="received, primary, submissions (counts) and actual_pct, hot_pct, bot_rate, vpn_pct, "
        "suspicious_pct (percent 0..100, null when the denominator is 0)"
    )
    top_projects: list[dict[str, Any]] = Field(description="Top 5 projects by primary, with hot_pct")
    top_countries: list[dict[str, Any]] = Field(description="Top 3 countries by primary, with hot_pct")


class SchemaDocument(BaseModel):
    dimensions: list[dict[str, Any]]
    metrics: list[dict[str, Any]]
    buckets: list[str]
    bucket_aliases: dict[str, str]
    event_types: list[str]
    engagement_labels: list[str]
    filter_ops: list[str]
    max_buckets: int
    default_suspicious_min: float
    rates: list[dict[str, Any]] = Field(default_factory=list, description="the five rates: numerator, denominator")
    filter_operators: list[dict[str, Any]] = Field(default_factory=list, description="name, CLI symbol, words")
    renamed_dimensions: dict[str, str] = Field(default_factory=dict, description="refused names -> the dimension")


class DataSpan(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "timezone": "Asia/Kolkata", "first": "2026-03-01T00:02:11.120000+05:30",
        "last": "2026-03-16T23:58:40.004000+05:30", "first_day": "2026-03-01", "last_day": "2026-03-16"}]})
    timezone: str
    first: str | None = Field(description="the first stored event's time in the zone; null for an empty store")
    last: str | None = Field(description="the last stored event's time in the zone")
    first_day: str | None = Field(description="its local date")
    last_day: str | None = Field(description="its local date")


class Health(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "ok", "version": "0.1.0", "backend": "duckdb", "writer": "running"}]}
    )
    status: str = Field(description="ok, or degraded while writes fail (the route then answers 503)")
    version: str
    backend: str
    writer: str
    write_error: str | None = Field(None, description="why the last write failed, e.g. no space left on device")
    wal_loss: dict[str, Any] | None = Field(None, description="acknowledged batches a torn log tail lost at open")
