"""The MCP error mapping (beside the HTTP one in ``api/app.py``): a ``LeadStatsError`` becomes a tool
error the agent can read and correct, ``"<code> (<field>): <message>"``.

>>> from leadstats.errors import QueryError
>>> str(tool_error(QueryError("unknown dimension 'x'", field="dimensions")))
"invalid_query (dimensions): unknown dimension 'x'"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from mcp.server.mcpserver.exceptions import ToolError

from ..errors import LeadStatsError

T = TypeVar("T")


def tool_error(exc: LeadStatsError) -> ToolError:
    where = f" ({exc.field})" if exc.field else ""
    return ToolError(f"{exc.code}{where}: {exc.message}")


def guard(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one service call; a LeadStatsError becomes a tool error."""
    try:
        return fn(*args, **kwargs)
    except LeadStatsError as exc:
        raise tool_error(exc) from None
