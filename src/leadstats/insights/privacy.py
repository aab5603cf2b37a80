"""k-anonymity for AI-facing output: groups of fewer than k events are merged into ``"other"``.

Reports are aggregates already; what can still single a person out is a group so small that it *is* a
person (one lead from a small city at 03:00). Before a report leaves for an AI agent (MCP tools, the
``export --for-ai`` pack, the digest's LLM prompt) every row whose ``received`` is below ``k`` is folded,
per time bucket, into one row whose dimension values all read ``"other"``. Totals are unchanged, so the
numbers still add up. Time-only rows (no dimensions) are kept: a count per bucket names no group.

>>> rows = [{"city": "Pune", "received": 9, "primary": 9}, {"city": "Ooty", "received": 1, "primary": 1},
...         {"city": "Kota", "received": 2, "primary": 0}]
>>> merge_small_groups(rows, ["city"], 5, metrics=("received", "primary"))
[{'city': 'Pune', 'received': 9, 'primary': 9}, {'city': 'other', 'received': 3, 'primary': 1}]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..model.schema import METRIC_NAMES
from .common import OTHER


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
        if int(row.get("received", 0)) >= k:
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
