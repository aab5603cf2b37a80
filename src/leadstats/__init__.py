"""leadstats: when leads arrive, what kind they are, and where they come from.

>>> import leadstats
>>> ls = leadstats.connect(":memory:")
>>> result = ls.report("2026-03-01", "2026-03-08", timezone="Asia/Kolkata", bucket="1d")
>>> len(result.rows)
7
"""

from .errors import LeadStatsError
from .model.report import ReportQuery, ReportResult
from .service import IngestResult, LeadStats, connect

__version__ = "0.1.0"
__all__ = ["IngestResult", "LeadStats", "LeadStatsError", "ReportQuery", "ReportResult", "connect"]
