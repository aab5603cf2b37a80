"""The MCP server over one service: instructions, the tool table, the schema resource, stdio.

Tools: ``lead_stats`` (the CONTRACT §3 JSON query; returns the §4 document), ``lead_summary``,
``focus_segments``, ``best_time_windows``, ``anomalies``, ``forecast``; resource ``leadstats://schema``.
Everything returned is an aggregate, and groups under ``Settings.k_anonymity`` events (default 5) are
merged into ``"other"`` (:mod:`leadstats.insights.privacy`) so no person can be singled out.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

from .. import __version__
from .tools import TOOLS, Context

if TYPE_CHECKING:
    from ..service import LeadStats
    from ..settings import Settings

INSTRUCTIONS = """Lead statistics of a real-estate marketing team (aggregates only, never personal data).
Start with `lead_summary` for the last days' KPIs, `focus_segments` for what to scale, fix or pause,
`best_time_windows` for when to run ads, `anomalies` for what broke, `forecast` for expected volume.
Use `lead_stats` for any other count (read the `leadstats://schema` resource for dimensions, metrics and
rates; `rates: true` adds the five rates to every row). Definitions: primary = actual leads; hot =
primary leads engaged Hot or Very Hot; bot_rate = (bot + blocked) / received; suspicious and vpn count
primary leads; split or filter by VPN with the dimension vpn_suspected. Dates are local to the timezone
(default Asia/Kolkata); windows are [from, to). Groups under k events are merged into "other"."""

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


def build_server(ls: LeadStats, settings: Settings | None = None) -> MCPServer:
    """The MCP server over one service (the tools of :data:`TOOLS`, the schema resource, instructions)."""
    settings = settings or ls.settings
    ctx = Context(ls, max(settings.k_anonymity, 1))
    # log_level: the SDK calls logging.basicConfig; WARNING keeps a host app's root logger quiet.
    server: MCPServer = MCPServer("leadstats", title="leadstats", version=__version__, instructions=INSTRUCTIONS,
                                  description="Lead statistics and insights (aggregates only)", log_level="WARNING")
    for tool in TOOLS:
        server.tool(annotations=READ_ONLY, description=tool.description)(tool.build(ctx))

    @server.resource("leadstats://schema", name="schema", mime_type="application/json", description=(
        "Dimensions (name, type, description), metrics, rates, buckets and filter operators of lead_stats."))
    def schema_resource() -> str:
        doc = ls.schema()
        return json.dumps({**doc, "k_anonymity": ctx.k, "metric_names": [m["name"] for m in doc["metrics"]]},
                          ensure_ascii=False, indent=2)

    return server


def run_stdio(ls: LeadStats, settings: Settings | None = None) -> None:
    """Serve MCP over stdin/stdout until the client disconnects (``leadstats mcp``)."""
    build_server(ls, settings).run("stdio")
