"""Decisions from the numbers: focus list, best time windows, anomalies, forecast, digest.

Every insight is a pure function over :class:`~leadstats.model.report.ReportResult` objects
(``rank_segments``, ``time_windows``, ``find_anomalies``, ``forecast_series``) plus a thin runner that
asks the service for the reports it needs (``focus``, ``best_windows``, ``anomalies``, ``forecast``).
They read aggregates only: no raw event and no lead identity ever reaches this layer. Methods and output
fields are documented in docs/insights.md.

>>> import leadstats
>>> from leadstats import insights
>>> ls = leadstats.connect(":memory:")
>>> insights.focus(ls, "2026-03-01", "2026-03-08")["items"]
[]
"""

from __future__ import annotations

from .anomalies import AnomalyOptions, anomalies, find_anomalies
from .delivery import make_digest, send, start_digest_scheduler
from .digest import build_digest, render_html, render_markdown
from .focus import FOCUS_DIMENSIONS, FocusOptions, focus, rank_segments
from .forecast import ForecastError, forecast, forecast_series
from .privacy import k_anonymize_report, merge_small_groups
from .windows import best_windows, time_windows

__all__ = [
    "FOCUS_DIMENSIONS",
    "AnomalyOptions",
    "FocusOptions",
    "ForecastError",
    "anomalies",
    "best_windows",
    "build_digest",
    "find_anomalies",
    "focus",
    "forecast",
    "forecast_series",
    "k_anonymize_report",
    "make_digest",
    "merge_small_groups",
    "rank_segments",
    "render_html",
    "render_markdown",
    "send",
    "start_digest_scheduler",
    "time_windows",
]
