"""The MCP server: lead statistics and insights as tools for AI agents (official ``mcp`` SDK, 2.x).

Two transports, one server definition (:func:`build_server`):

- stdio: ``leadstats mcp --db PATH`` (an agent launches it as a subprocess);
- streamable HTTP at ``/mcp`` inside ``leadstats serve``: :func:`mount` is called by the HTTP app factory
  and guards the endpoint with the same read tokens as ``/api/v1`` (``Authorization: Bearer <token>``).

Tools: ``lead_stats`` (the CONTRACT §3 JSON query; returns the §4 document), ``lead_summary``,
``focus_segments``, ``best_time_windows``, ``anomalies``, ``forecast``; resource ``leadstats://schema``.
Everything returned is an aggregate, and groups of fewer than ``Settings.k_anonymity`` events (default
5) are merged into ``"other"`` so no person can be singled out.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from . import __version__
from .errors import LeadStatsError
from .insights.privacy import k_anonymize_report
from .model.schema import BUCKETS, DIMENSIONS, METRICS

if TYPE_CHECKING:
    from fastapi import FastAPI

    from .service import LeadStats
    from .settings import Settings

INSTRUCTIONS = """Lead statistics of a real-estate marketing team (aggregates only, never personal data).
Start with `lead_summary` for the last days' KPIs, `focus_segments` for what to scale, fix or pause,
`best_time_windows` for when to run ads, `anomalies` for what broke, `forecast` for expected volume.
Use `lead_stats` for any other count (read the `leadstats://schema` resource for dimensions and metrics).
Definitions: primary = actual leads; hot = primary leads engaged Hot or Very Hot; bot_rate = (bot +
blocked) / received; suspicious and vpn count primary leads. Dates are local to the timezone
(default Asia/Kolkata); windows are [from, to). Groups under k events are merged into "other"."""

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
if TYPE_CHECKING:
    DimensionName = str
    BucketName = str
else:  # enums in the tools' JSON schema, built from the one registry of names
    DimensionName = Literal[tuple(DIMENSIONS)]
    BucketName = Literal[tuple([*BUCKETS, "1h"])]
FilterValue = str | int | float | bool | None
DateArg = Annotated[
    str | None,
    Field(description="A date YYYY-MM-DD (local midnight in the timezone) or an ISO 8601 instant with offset."),
]
TzArg = Annotated[str | None, Field(description="IANA timezone, e.g. Asia/Kolkata (the default).")]


def _guard(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run one service call; a LeadStatsError becomes a tool error the agent can read and correct."""
    try:
        return fn(*args, **kwargs)
    except LeadStatsError as exc:
        where = f" ({exc.field})" if exc.field else ""
        raise ToolError(f"{exc.code}{where}: {exc.message}") from None


def _merge_top(rows: list[Mapping[str, Any]], key: str, k: int) -> list[dict[str, Any]]:
    """Summary top lists: entries with fewer than ``k`` actual leads are folded into one ``other``."""
    kept = [dict(r) for r in rows if r["primary"] >= k]
    small = [r for r in rows if r["primary"] < k]
    if small:
        primary = sum(r["primary"] for r in small)
        hot = sum(r["hot"] for r in small)
        kept.append({key: "other", "primary": primary, "previous_primary": None, "change_pct": None,
                     "hot": hot, "hot_pct": round(100 * hot / primary, 2) if primary else None})
    return kept


def build_server(ls: LeadStats, settings: Settings | None = None) -> MCPServer:
    """The MCP server over one service (tools, resource and instructions)."""
    settings = settings or ls.settings
    k = max(settings.k_anonymity, 1)
    # log_level: the SDK calls logging.basicConfig; WARNING keeps a host app's root logger quiet.
    server: MCPServer = MCPServer("leadstats", title="leadstats", version=__version__, instructions=INSTRUCTIONS,
                                  description="Lead statistics and insights (aggregates only)", log_level="WARNING")

    @server.tool(annotations=READ_ONLY, description=(
        "Count leads for a window, optionally per time bucket and split by dimensions (CONTRACT §3 query). "
        "Returns {query, rows, totals, meta}: each row has bucket_start (when bucketed), the dimension values "
        "and the metrics received, submissions, primary (actual leads), follow_up, test, blocked, bot, vpn, "
        "suspicious, hot. Rows with fewer than k events are merged into one row whose dimensions read "
        "'other'. Example: date_range ['2026-03-01','2026-03-08'], bucket '1d', dimensions ['utm_campaign'], "
        "filters [['is','country',['IN']]]."))
    def lead_stats(
        date_range: Annotated[list[str], Field(min_length=2, max_length=2, description=(
            "[from, to): window start (inclusive) and end (exclusive); a date YYYY-MM-DD is local midnight "
            "in the timezone, an ISO instant with offset is taken as is."))],
        timezone: TzArg = None,
        bucket: Annotated[BucketName | None, Field(description=(
            "Time bucket aligned to the local wall clock; omit for totals per group."))] = None,
        dimensions: Annotated[list[DimensionName], Field(description=(
            "Split by these dimensions (hour_of_day 0..23 and weekday 1=Mon..7 are local)."))] = [],  # noqa: B006
        filters: Annotated[list[tuple[Literal["is", "is_not", "contains"], DimensionName, list[FilterValue]]],
                           Field(description=(
                               "ANDed filters [op, dimension, values]: 'is' (one of), 'is_not' (none of), "
                               "'contains' (substring, text dimensions); null matches a missing value."))] = [],  # noqa: B006
        suspicious_min: Annotated[float | None, Field(ge=0, le=100, description=(
            "Suspicion score from which a primary lead counts as suspicious (default 40)."))] = None,
    ) -> dict[str, Any]:
        doc: dict[str, Any] = {"date_range": date_range, "dimensions": list(dimensions),
                               "filters": [list(f) for f in filters]}
        for name, value in (("timezone", timezone), ("bucket", bucket), ("suspicious_min", suspicious_min)):
            if value is not None:
                doc[name] = value
        result = _guard(ls.query, doc)
        return k_anonymize_report(result.to_dict(), k)

    @server.tool(annotations=READ_ONLY, description=(
        "KPIs of the last `days` full local days against the `days` before: received, primary (actual "
        "leads), submissions and the ratios actual_pct, hot_pct, bot_rate, vpn_pct, suspicious_pct (percent), "
        "each {value, previous, change, change_pct}; plus the top projects and countries by actual leads."))
    def lead_summary(
        days: Annotated[int, Field(ge=1, le=366, description="Window length in full local days.")] = 7,
        tz: TzArg = None,
        project: Annotated[str | None, Field(description="Only this project (exact name).")] = None,
        today: Annotated[str | None, Field(description=(
            "First local day NOT counted, YYYY-MM-DD (default: today); the window is the days before it."
        ))] = None,
    ) -> dict[str, Any]:
        from .insights.digest import parse_to
        from .summary import summary

        day = None if today is None else _guard(parse_to, today, ls.timezone(tz))
        doc: dict[str, Any] = _guard(summary, ls, days=days, tz=tz, project=project, today=day)
        doc["top_projects"] = _merge_top(doc["top_projects"], "project", k)
        doc["top_countries"] = _merge_top(doc["top_countries"], "country", k)
        return doc

    @server.tool(annotations=READ_ONLY, description=(
        "Where to focus: segments (project, source, utm_campaign, country, city and pairs) whose lead quality "
        "differs from the rest of the traffic beyond a 99.7% Wilson bound, each with action scale / fix / "
        "pause, a one-line reason with its numbers, and impact (hot leads gained or lost, junk events). "
        "Ranked by impact, so big segments outrank tiny ones. Default window: the last 28 full days."))
    def focus_segments(
        date_from: DateArg = None,
        date_to: DateArg = None,
        timezone: TzArg = None,
        limit: Annotated[int, Field(ge=1, le=50, description="Most segments to return.")] = 10,
    ) -> dict[str, Any]:
        from .insights import focus

        return dict(_guard(focus, ls, date_from, date_to, tz=timezone, limit=limit))

    @server.tool(annotations=READ_ONLY, description=(
        "When to run ads: expected actual and hot leads per local weekday x hour over the last weeks "
        "(top_ad_slots), peak hour ranges (peak_hours), per hour and per weekday means, and junk_slots where "
        "bots+blocked are most events or suspicious leads most actual leads. Default: the last 8 weeks."))
    def best_time_windows(
        date_from: DateArg = None,
        date_to: DateArg = None,
        timezone: TzArg = None,
        weeks: Annotated[int, Field(ge=1, le=52, description="History in weeks when date_from is empty.")] = 8,
        top: Annotated[int, Field(ge=1, le=168, description="How many top ad slots to return.")] = 10,
    ) -> dict[str, Any]:
        from .insights import best_windows

        return dict(_guard(best_windows, ls, date_from, date_to, tz=timezone, weeks=weeks, top=top,
                           include_slots=False))

    @server.tool(annotations=READ_ONLY, description=(
        "What broke: hours and days whose events, actual leads, bot+blocked share or suspicious share are "
        "far from the same local weekday and hour in the previous 6 weeks (robust median/MAD with Poisson "
        "floor), overall and per project, source, country, utm_campaign. Each anomaly has kind (spike, drop, "
        "zero), severity and evidence; incidents group them and name the driving segments. Default: the "
        "last 7 days up to the current hour."))
    def anomalies(
        date_from: DateArg = None,
        date_to: DateArg = None,
        timezone: TzArg = None,
        limit: Annotated[int, Field(ge=1, le=500, description="Most anomalies to return (incidents: all).")] = 50,
    ) -> dict[str, Any]:
        from .insights import anomalies as find

        return dict(_guard(find, ls, date_from, date_to, tz=timezone, limit=limit))

    @server.tool(annotations=READ_ONLY, description=(
        "Expected volume: the next 7 days per day and the next day per hour, with 80% intervals, from the "
        "history before date_to (default today). The model (seasonal naive or Holt-Winters) is chosen by a "
        "rolling backtest; its MAPE (percent) is reported."))
    def forecast(
        metric: Annotated[Literal["primary", "received", "submissions", "hot", "follow_up", "bot"],
                          Field(description="What to forecast (primary = actual leads).")] = "primary",
        date_to: DateArg = None,
        timezone: TzArg = None,
    ) -> dict[str, Any]:
        from .insights import forecast as predict

        return dict(_guard(predict, ls, date_to, tz=timezone, metric=metric))

    @server.resource("leadstats://schema", name="schema", mime_type="application/json", description=(
        "Dimensions (name, type, description), metrics, buckets and filter operators of lead_stats."))
    def schema_resource() -> str:
        doc = ls.schema()
        return json.dumps({**doc, "k_anonymity": k,
                           "metric_names": [m.name for m in METRICS]}, ensure_ascii=False, indent=2)

    return server


def run_stdio(ls: LeadStats, settings: Settings | None = None) -> None:
    """Serve MCP over stdin/stdout until the client disconnects (``leadstats mcp``)."""
    build_server(ls, settings).run("stdio")


def mount(app: FastAPI, ls: LeadStats, settings: Settings) -> None:
    """Serve MCP (streamable HTTP) at ``/mcp`` of the HTTP app, behind the read token.

    Called by :func:`leadstats.api.app.create_app`; the session manager runs in the app's lifespan.
    """
    from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.types import Receive, Scope, Send

    server = build_server(ls, settings)
    auth = app.state.auth
    # DNS-rebinding protection matters when no token guards the endpoint (--insecure-local on loopback).
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=bool(auth.open),
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )
    server.streamable_http_app(streamable_http_path="/mcp", transport_security=security)
    inner = StreamableHTTPASGIApp(server.session_manager)

    class Guarded:
        """The MCP endpoint behind the read token (an ASGI app, so Starlette passes scope/receive/send)."""

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            header = headers.get("authorization", "")
            token = header[7:].strip() if header[:7].lower() == "bearer " else None
            client = scope.get("client") or ("unknown", 0)
            try:
                auth.authenticate(token, "read", client[0])
            except LeadStatsError as exc:
                extra = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else {}
                retry = getattr(exc, "retry_after", None)
                if retry:
                    extra["Retry-After"] = str(retry)
                response = JSONResponse({"error": exc.to_dict()}, exc.http_status, headers=extra)
                await response(scope, receive, send)
                return
            await inner(scope, receive, send)

    app.router.routes.append(Route("/mcp", endpoint=Guarded(), methods=["GET", "POST", "DELETE"],
                                   include_in_schema=False))

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        async with server.session_manager.run():
            yield

    app.state.lifespan_hooks.append(lifespan)
