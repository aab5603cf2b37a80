"""ReportQuery -> SQL text and parameters for a dialect. Pure: no connections, no I/O."""

from .compiler import CompiledQuery, compile_report
from .dialect import DIALECTS, Dialect

__all__ = ["DIALECTS", "CompiledQuery", "Dialect", "compile_report"]
