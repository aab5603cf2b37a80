"""The one privacy rule for AI-facing output (k-anonymity), and the helpers that apply it.

Reports are aggregates already; what can still single a person out is a group so small that it *is* a
person (one lead from a small city at 03:00). The rule, with one threshold ``Settings.k_anonymity``
(``LEADSTATS_K_ANONYMITY``, default 5):

    A named group reaches an AI agent only when it holds at least k events; smaller groups are
    merged into one ``"other"`` group (so totals still add up), or left out where a list cannot
    merge them (the digest's advice items).

A group's size (:func:`group_size`) is the number of events its row counts: ``received`` for report
rows and insight segments (``counts.received``); a summary top list counts actual leads only, so its
entries' size is ``primary``. Every AI-facing path uses it: the MCP tools (``lead_stats`` rows and the
``lead_summary`` top lists), ``export --for-ai`` and the digest's LLM prompt. Time-only rows (no
dimensions) are kept: a count per bucket names no group.

>>> rows = [{"city": "Pune", "received": 9, "primary": 9}, {"city": "Ooty", "received": 1, "primary": 1},
...         {"city": "Kota", "received": 2, "primary": 0}]
>>> merge_small_groups(rows, ["city"], 5, metrics=("received", "primary"))
[{'city': 'Pune', 'received': 9, 'primary': 9}, {'city': 'other', 'received': 3, 'primary': 1}]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..model.metrics import METRIC_NAMES
from ..model.rates import RATE_BY_NAME
from .common import OTHER


def group_size(row: Mapping[str, Any]) -> int:
    """How many events a row's group holds (see the module doc)."""
    counts = row.get("counts")
    if isinstance(counts, Mapping):
        return group_size(counts)
    return int(row["received"] if "received" in row else row.get("primary", 0))


def is_shown(row: Mapping[str, Any], k: int) -> bool:
    """True when the row's group is big enough to be named to an AI agent."""
    return k <= 1 or group_size(row) >= k


def merge_small_groups(
    rows: Sequence[Mapping[str, Any]],
    dimensions: Sequence[str],
    k: int,
    *,
    metrics: Sequence[str] = METRIC_NAMES,
) -> list[dict[str, Any]]:
    """Fold rows with ``received < k`` into one ``"other"`` row per ``bucket_start`` (see module doc).

    Row order is kept (CONTRACT §4: bucket, then received descending); the merged row follows the kept
    rows of its bucket. With no dimensions or ``k <= 1`` the rows are returned unchanged (copied).
    """
    if not dimensions or k <= 1:
        return [dict(r) for r in rows]
    buckets: dict[Any, int] = {}
    kept: list[dict[str, Any]] = []
    merged: dict[Any, dict[str, Any]] = {}
    for row in rows:
        bucket = row.get("bucket_start")
        buckets.setdefault(bucket, len(buckets))
        if is_shown(row, k):
            kept.append(dict(row))
            continue
        other = merged.get(bucket)
        if other is None:
            other = {"bucket_start": bucket} if "bucket_start" in row else {}
            other.update(dict.fromkeys(dimensions, OTHER))
            other.update(dict.fromkeys(metrics, 0))
            merged[bucket] = other
        for name in metrics:
            other[name] += int(row.get(name, 0))
    out = kept + list(merged.values())
    # Stable: within a bucket, received descending; "other" after kept rows with the same count.
    out.sort(key=lambda r: (buckets[r.get("bucket_start")], -int(r.get("received", 0))))
    return out


def k_anonymize_report(doc: Mapping[str, Any], k: int) -> dict[str, Any]:
    """A CONTRACT §4 document with small groups merged (``meta.k_anonymity`` says how many)."""
    dims = list(doc.get("query", {}).get("dimensions", []))
    rows = merge_small_groups(doc.get("rows", []), dims, k)
    out = dict(doc)
    out["rows"] = rows
    meta = dict(doc.get("meta", {}))
    meta["k_anonymity"] = {"k": k, "rows_before": len(doc.get("rows", [])), "rows_after": len(rows)}
    out["meta"] = meta
    return out


def merge_top_list(rows: Sequence[Mapping[str, Any]], key: str, k: int) -> list[dict[str, Any]]:
    """A summary top list (``top_projects``/``top_countries``) with small entries folded into ``other``.

    >>> merge_top_list([{"country": "IN", "primary": 40, "hot": 10}, {"country": "QA", "primary": 2, "hot": 2}],
    ...                "country", 5)[1]
    {'country': 'other', 'primary': 2, 'previous_primary': None, 'change_pct': None, 'hot': 2, 'hot_pct': 100.0}
    """
    kept = [dict(r) for r in rows if is_shown(r, k)]
    small = [r for r in rows if not is_shown(r, k)]
    if small:
        primary = sum(int(r["primary"]) for r in small)
        hot = sum(int(r["hot"]) for r in small)
        kept.append({key: OTHER, "primary": primary, "previous_primary": None, "change_pct": None, "hot": hot,
                     "hot_pct": RATE_BY_NAME["hot_pct"].value({"hot": hot, "primary": primary})})
    return kept


def k_anonymize_summary(doc: Mapping[str, Any], k: int) -> dict[str, Any]:
    """A summary document with both top lists passed through :func:`merge_top_list`."""
    out = dict(doc)
    out["top_projects"] = merge_top_list(doc.get("top_projects", []), "project", k)
    out["top_countries"] = merge_top_list(doc.get("top_countries", []), "country", k)
    return out
