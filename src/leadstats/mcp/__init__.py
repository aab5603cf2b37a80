"""The MCP front end: lead statistics and insights as tools for AI agents (official ``mcp`` SDK, 2.x).

Two transports, one server definition (:func:`build_server` in :mod:`.server`, one function per tool in
:mod:`.tools`):

- stdio: ``leadstats mcp --db PATH`` (an agent launches it as a subprocess): :func:`run_stdio`;
- streamable HTTP at ``/mcp`` inside ``leadstats serve``: :func:`mount`, called by the HTTP app factory,
  guards the endpoint with the same read tokens as ``/api/v1``.

Errors: :mod:`.errors` maps a ``LeadStatsError`` to an MCP tool error, as ``api/app.py`` maps it to an
HTTP answer. Privacy: every answer goes through the one k-anonymity rule of
:mod:`leadstats.insights.privacy`.

The package is ``leadstats.mcp``; inside it ``from mcp.server ...`` is an absolute import and reaches
the SDK (the top-level ``mcp`` package), never this package.
"""

from __future__ import annotations

from .http import mount
from .server import build_server, run_stdio

__all__ = ["build_server", "mount", "run_stdio"]
