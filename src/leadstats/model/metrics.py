"""The metrics of CONTRACT §2, defined once: name, plain words, and the SQL condition that counts them.

The compiler (:mod:`leadstats.query.compiler`) renders :attr:`Metric.condition` for every dialect and
the DuckDB rollup (:mod:`leadstats.store.duckdb`) uses the same conditions, so a metric means one
thing on every engine. A condition is a function of ``col`` (how the engine spells a stored column)
and ``smin`` (the SQL of the ``suspicious_min`` threshold); ``None`` means every event counts.

>>> conds = {m.name: m.condition(lambda c: c, "40") for m in METRICS}
>>> conds["received"] is None, conds["hot"]
(True, "event_type = 'primary' AND engagement_label IN ('Hot', 'Very Hot')")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .vocabulary import HOT_LABELS

_HOT = ", ".join(f"'{label}'" for label in HOT_LABELS)
Column = Callable[[str], str]
Condition = Callable[[Column, str], "str | None"]


def _type_is(*types: str) -> Condition:
    def cond(col: Column, smin: str) -> str:
        if len(types) == 1:
            return f"{col('event_type')} = '{types[0]}'"
        listed = ", ".join(f"'{t}'" for t in types)
        return f"{col('event_type')} IN ({listed})"

    return cond


def _primary_and(rest: Callable[[Column, str], str]) -> Condition:
    def cond(col: Column, smin: str) -> str:
        return f"{col('event_type')} = 'primary' AND {rest(col, smin)}"

    return cond


@dataclass(frozen=True)
class Metric:
    """One count of CONTRACT §2. ``by_threshold``: depends on ``suspicious_min`` (the rollup keeps it
    per suspicion score instead of as a column)."""

    name: str
    description: str
    condition: Condition
    by_threshold: bool = False


METRICS: tuple[Metric, ...] = (
    Metric("received", "Every event in the window, all five types", lambda col, smin: None),
    Metric("submissions", "primary + follow_up (accepted submits)", _type_is("primary", "follow_up")),
    Metric("primary", "Actual leads: event_type primary", _type_is("primary")),
    Metric("follow_up", "Follow-up submits of an existing lead", _type_is("follow_up")),
    Metric("test", "Submits from whitelisted testing IPs", _type_is("test")),
    Metric("blocked", "Submits from blocked IPs", _type_is("blocked")),
    Metric("bot", "Honeypot-caught bot submits", _type_is("bot")),
    Metric("vpn", "Primary events with vpn true", _primary_and(lambda col, smin: col("vpn"))),
    Metric(
        "suspicious",
        "Primary events with suspicion_score >= suspicious_min",
        _primary_and(lambda col, smin: f"{col('suspicion_score')} >= {smin}"),
        by_threshold=True,
    ),
    Metric(
        "hot",
        "Primary events with engagement_label Hot or Very Hot",
        _primary_and(lambda col, smin: f"{col('engagement_label')} IN ({_HOT})"),
    ),
)
METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in METRICS)
METRIC_BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}


def describe_metrics() -> list[dict[str, object]]:
    """The metrics as the schema document lists them."""
    return [{"name": m.name, "description": m.description, "by_threshold": m.by_threshold} for m in METRICS]
