"""The dashboard: static files (HTML, CSS, JavaScript modules, vendored uPlot) served at ``/``.

There is no build step: ``static/`` is served as is by the HTTP API (``leadstats serve``) and reads the
same ``/api/v1`` routes as every other client. See docs/dashboard.md.
"""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
