"""``leadstats mcp``: the MCP server over stdio, for AI agents that launch it as a subprocess.

Configure an agent with the command ``leadstats mcp --db /path/to/leadstats.duckdb``. Over HTTP the
same tools are served at ``/mcp`` by ``leadstats serve`` (read token). See docs/insights.md.
"""

from __future__ import annotations

import logging
import sys

from .common import DbOption, app, handle_errors, open_service


@app.command("mcp")
@handle_errors
def mcp_cmd(db: str | None = DbOption) -> None:
    """Serve the MCP tools (lead_stats, lead_summary, focus_segments, ...) over stdin/stdout.

    \b
    Example:
      leadstats mcp --db readme.duckdb
    """
    from ..mcp import run_stdio

    # stdout carries the protocol: every log line goes to stderr.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    with open_service(db, read_only=True) as ls:
        run_stdio(ls, ls.settings)
