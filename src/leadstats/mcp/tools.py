"""The MCP tools, one function each, and the table :func:`leadstats.mcp.server.build_server` registers.

Each entry of :data:`TOOLS` pairs a description with a builder that takes the :class:`Context` (the
service and the k-anonymity threshold) and returns the tool function; the function's name is the tool's
name and its annotated parameters are the tool's JSON schema. Validation that names the problem
(unknown or renamed dimensions such as ``vpn``, enum values, quotes) is the service's, so dimension
names are plain strings with an ``enum`` hint in the schema, not a closed type the SDK would refuse
with its own words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from ..insights import anomalies as find_anomalies
from ..insights import best_windows, focus
from ..insights import forecast as predict
from ..insights.digest import parse_to
from ..insights.privacy import k_anonymize_report, k_anonymize_summary
from ..insights.summary import summary
from ..model.schema import BUCKETS, DIMENSIONS
from .errors import guard

if TYPE_CHECKING:
    from ..service import LeadStats

DimensionName = Annotated[str, Field(json_schema_extra={"enum": list(DIMENSIONS)})]
if TYPE_CHECKING:
    BucketName = str
    FilterOpName = str
else:  # enums in the tools' JSON schema, built from the registries
    BucketName = Literal[tuple([*BUCKETS, "1h"])]
    FilterOpName = Literal["is", "is_not", "contains"]
FilterValue = str | int | float | bool | None
DateArg = Annotated[
    str | None,
    Field(description="A date YYYY-MM-DD (local midnight in the timezone) or an ISO 8601 instant with offset."),
]
TzArg = Annotated[str | None, Field(description="IANA timezone, e.g. Asia/Kolkata (the default).")]


@dataclass(frozen=True)
class Context:
    ls: LeadStats
    k: int


@dataclass(frozen=True)
class Tool:
    description: str
    build: Callable[[Context], Callable[..., dict[str, Any]]]


def _lead_stats(ctx: Context) -> Callable[..., dict[str, Any]]:
    def lead_stats(
        date_range: Annotated[list[str], Field(min_length=2, max_length=2, description=(
            "[from, to): window start (inclusive) and end (exclusive); a date YYYY-MM-DD is local midnight "
            "in the timezone, an ISO instant with offset is taken as is."))],
        timezone: TzArg = None,
        bucket: Annotated[BucketName | None, Field(description=(
            "Time bucket aligned to the local wall clock; omit for totals per group."))] = None,
        dimensions: Annotated[list[DimensionName], Field(description=(
            "Split by these dimensions (hour_of_day 0..23 and weekday 1=Mon..7 are local; VPN is "
            "vpn_suspected)."))] = [],  # noqa: B006
        filters: Annotated[list[tuple[FilterOpName, DimensionName, list[FilterValue]]], Field(description=(
            "ANDed filters [op, dimension, values]: 'is' (one of), 'is_not' (none of), 'contains' "
            "(substring, text dimensions); null matches a missing value."))] = [],  # noqa: B006
        suspicious_min: Annotated[float | None, Field(ge=0, le=100, description=(
            "Suspicion score from which a primary lead counts as suspicious (default 40)."))] = None,
        rates: Annotated[bool, Field(description=(
            "Also give every row and the totals the five rates actual_pct, hot_pct, bot_rate, vpn_pct, "
            "suspicious_pct (percent, 2 decimals, null when the denominator is 0)."))] = False,
    ) -> dict[str, Any]:
        doc: dict[str, Any] = {"date_range": date_range, "dimensions": list(dimensions),
                               "filters": [list(f) for f in filters], "rates": rates}
        for name, value in (("timezone", timezone), ("bucket", bucket), ("suspicious_min", suspicious_min)):
            if value is not None:
                doc[name] = value
        result = guard(ctx.ls.query, doc)
        return k_anonymize_report(result.to_dict(), ctx.k)

    return lead_stats


def _lead_summary(ctx: Context) -> Callable[..., dict[str, Any]]:
    def lead_summary(
        days: Annotated[int, Field(ge=1, le=366, description="Window length in full local days.")] = 7,
        tz: TzArg = None,
        project: Annotated[str | None, Field(description="Only this project (exact name).")] = None,
        today: Annotated[str | None, Field(description=(
            "First local day NOT counted, YYYY-MM-DD (default: today); the window is the days before it."
        ))] = None,
    ) -> dict[str, Any]:
        day = None if today is None else guard(parse_to, today, ctx.ls.timezone(tz))
        doc: dict[str, Any] = guard(summary, ctx.ls, days=days, tz=tz, project=project, today=day)
        return k_anonymize_summary(doc, ctx.k)

    return lead_summary


def _focus_segments(ctx: Context) -> Callable[..., dict[str, Any]]:
    def focus_segments(
        date_from: DateArg = None,
        date_to: DateArg = None,
        timezone: TzArg = None,
        limit: Annotated[int, Field(ge=1, le=50, description="Most segments to return.")] = 10,
    ) -> dict[str, Any]:
        return dict(guard(focus, ctx.ls, date_from, date_to, tz=timezone, limit=limit))

    return focus_segments


def _best_time_windows(ctx: Context) -> Callable[..., dict[str, Any]]:
    def best_time_windows(
        date_from: DateArg = None,
        date_to: DateArg = None,
        timezone: TzArg = None,
        weeks: Annotated[int, Field(ge=1, le=52, description="History in weeks when date_from is empty.")] = 8,
        top: Annotated[int, Field(ge=1, le=168, description="How many top ad slots to return.")] = 10,
    ) -> dict[str, Any]:
        return dict(guard(best_windows, ctx.ls, date_from, date_to, tz=timezone, weeks=weeks, top=top,
                          include_slots=False))

    return best_time_windows


def _anomalies(ctx: Context) -> Callable[..., dict[str, Any]]:
    def anomalies(
        date_from: DateArg = None,
        date_to: DateArg = None,
        timezone: TzArg = None,
        limit: Annotated[int, Field(ge=1, le=500, description="Most anomalies to return (incidents: all).")] = 50,
    ) -> dict[str, Any]:
        return dict(guard(find_anomalies, ctx.ls, date_from, date_to, tz=timezone, limit=limit))

    return anomalies


def _forecast(ctx: Context) -> Callable[..., dict[str, Any]]:
    def forecast(
        metric: Annotated[Literal["primary", "received", "submissions", "hot", "follow_up", "bot"],
                          Field(description="What to forecast (primary = actual leads).")] = "primary",
        date_to: DateArg = None,
        timezone: TzArg = None,
    ) -> dict[str, Any]:
        return dict(guard(predict, ctx.ls, date_to, tz=timezone, metric=metric))

    return forecast


TOOLS: tuple[Tool, ...] = (
    Tool("Count leads for a window, optionally per time bucket and split by dimensions (CONTRACT §3 query). "
         "Returns {query, rows, totals, meta}: each row has bucket_start (when bucketed), the dimension values "
         "and the metrics received, submissions, primary (actual leads), follow_up, test, blocked, bot, vpn, "
         "suspicious, hot (with rates: true also actual_pct, hot_pct, bot_rate, vpn_pct, suspicious_pct). "
         "Rows with fewer than k events are merged into one row whose dimensions read 'other'. Example: "
         "date_range ['2026-03-01','2026-03-08'], bucket '1d', dimensions ['utm_campaign'], "
         "filters [['is','country',['IN']]].", _lead_stats),
    Tool("KPIs of the last `days` full local days against the `days` before: received, primary (actual "
         "leads), submissions and the ratios actual_pct, hot_pct, bot_rate, vpn_pct, suspicious_pct (percent), "
         "each {value, previous, change, change_pct}; plus the top projects and countries by actual leads.",
         _lead_summary),
    Tool("Where to focus: segments (project, source, utm_campaign, country, city and pairs) whose lead quality "
         "differs from the rest of the traffic beyond a 99.7% Wilson bound, each with action scale / fix / "
         "pause, a one-line reason with its numbers, and impact (hot leads gained or lost, junk events). "
         "Ranked by impact, so big segments outrank tiny ones. Default window: the last 28 full days.",
         _focus_segments),
    Tool("When to run ads: expected actual and hot leads per local weekday x hour over the last weeks "
         "(top_ad_slots), peak hour ranges (peak_hours), per hour and per weekday means, and junk_slots where "
         "bots+blocked are most events or suspicious leads most actual leads. Default: the last 8 weeks.",
         _best_time_windows),
    Tool("What broke: hours and days whose events, actual leads, bot+blocked share or suspicious share are "
         "far from the same local weekday and hour in the previous 6 weeks (robust median/MAD with Poisson "
         "floor), overall and per project, source, country, utm_campaign. Each anomaly has kind (spike, drop, "
         "zero), severity and evidence; incidents group them and name the driving segments. Default: the "
         "last 7 days up to the current hour.", _anomalies),
    Tool("Expected volume: the next 7 days per day and the next day per hour, with 80% intervals, from the "
         "history before date_to (default today). The model (seasonal naive or Holt-Winters) is chosen by a "
         "rolling backtest; its MAPE (percent) is reported.", _forecast),
)
