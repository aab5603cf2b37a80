"""The 15-minute slot rollup's rules, shared by every backend that keeps one (DuckDB, ClickHouse/chDB).

Every real UTC offset is a multiple of 15 minutes, so 15-minute UTC slots compose exactly into any bucket
of 15 minutes or more in any zone, and into the local ``hour_of_day`` and ``weekday``. A store keeps one
row per slot with every metric summed (``suspicious`` at ``DEFAULT_SUSPICIOUS_MIN``) plus a per-slot
histogram of primary events by suspicion score, so a report with another threshold stays exact.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ..model.metrics import METRIC_NAMES
from ..model.report import ReportQuery
from ..model.timegrid import US
from ..model.vocabulary import DEFAULT_SUSPICIOUS_MIN
from .compiler import Relation

SLOT_US = 900 * US


def rollup_eligible(query: ReportQuery) -> bool:
    """Whether the slots answer ``query`` exactly: no filters, no dimensions but the local hour and
    weekday, window edges and every zone offset of the window on slot boundaries."""
    grid = query.grid
    if query.filters or any(d not in ("hour_of_day", "weekday") for d in query.dimensions):
        return False
    if grid.start_us % SLOT_US or grid.end_us % SLOT_US:
        return False
    return all(s.offset_us % SLOT_US == 0 and (s.start_us or 0) % SLOT_US == 0 for s in grid.segments)


def at_threshold(
    slots: Relation, scores_table: str, count_column: str, suspicious_min: float, *,
    quote: Callable[[str], str], zero: str = "0",
) -> Relation:
    """``slots`` for a report at ``suspicious_min``: the relation itself at the default threshold, else
    the slot rows with ``suspicious`` zeroed plus the histogram rows at or above the threshold as
    ``suspicious`` (the threshold is a validated number, written as a literal)."""
    if float(suspicious_min) == DEFAULT_SUSPICIOUS_MIN:
        return slots
    others = ", ".join(quote(m) if m != "suspicious" else f"{zero} AS {quote(m)}" for m in METRIC_NAMES)
    hits = ", ".join(f"{count_column} AS {quote(m)}" if m == "suspicious" else f"{zero} AS {quote(m)}"
                     for m in METRIC_NAMES)
    table = (
        f"(SELECT slot, {others} FROM {slots.table} UNION ALL SELECT slot, {hits} FROM {scores_table}"
        f" WHERE score >= {float(suspicious_min)!r}) AS __r"
    )
    return dataclasses.replace(slots, table=table)
