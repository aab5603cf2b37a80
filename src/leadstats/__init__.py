"""leadstats: when leads arrive, what kind they are, and where they come from.

>>> import leadstats
>>> ls = leadstats.connect(":memory:")
>>> result = ls.report("2026-03-01", "2026-03-08", timezone="Asia/Kolkata", bucket="1d")
>>> len(result.rows)
7

The names below load on first use (PEP 562): ``import leadstats.errors`` or the CLI's ``--help`` do not
pay for DuckDB, pyarrow and numpy.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import LeadStatsError
    from .model.report import ReportQuery, ReportResult
    from .service import IngestResult, LeadStats, connect

__version__ = "0.1.0"
__all__ = ["IngestResult", "LeadStats", "LeadStatsError", "ReportQuery", "ReportResult", "connect"]

_HOMES = {
    "LeadStatsError": ".errors",
    "ReportQuery": ".model.report",
    "ReportResult": ".model.report",
    "IngestResult": ".service",
    "LeadStats": ".service",
    "connect": ".service",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'leadstats' has no attribute {name!r}")
    value = getattr(import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
