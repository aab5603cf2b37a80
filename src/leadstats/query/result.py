"""Grouped backend rows -> the CONTRACT §4 result: zero fill, ordering, totals. Backend-agnostic."""

from __future__ import annotations

from typing import Any

from ..model.report import ReportQuery, ReportResult, empty_metrics
from ..model.schema import DIMENSIONS, METRIC_NAMES


def _dim_value(name: str, value: Any) -> Any:
    if value is None:
        return None
    kind = DIMENSIONS[name].kind
    if kind == "bool":
        return bool(value)
    if kind == "int":
        return int(value)
    if kind == "number":
        number = float(value)
        return int(number) if number.is_integer() else number
    return str(value)


def _sort_key(value: Any) -> tuple[int, Any]:
    return (1, "") if value is None else (0, value)


def assemble(query: ReportQuery, rows: list[tuple[Any, ...]], meta: dict[str, Any]) -> ReportResult:
    """Build the result document from ``(key?, dims..., metrics...)`` tuples."""
    grid = query.grid
    bucketed = grid.bucket is not None
    n_dims = len(query.dimensions)
    first_metric = int(bucketed) + n_dims
    grouped: list[tuple[int | None, tuple[Any, ...], dict[str, int]]] = []
    for row in rows:
        metrics = {name: int(row[first_metric + i] or 0) for i, name in enumerate(METRIC_NAMES)}
        if metrics["received"] <= 0:
            continue
        key = int(row[0]) if bucketed else None
        dims = tuple(_dim_value(d, row[int(bucketed) + i]) for i, d in enumerate(query.dimensions))
        grouped.append((key, dims, metrics))

    if not n_dims:
        # Time-only (or no bucket at all): every bucket of the window, zero-filled.
        by_key = {key: metrics for key, _dims, metrics in grouped}
        keys: list[int | None] = list(grid.bucket_keys()) if bucketed else [None]
        if bucketed:
            extra = set(by_key) - set(keys)  # cannot happen unless a backend disagrees; never drop data
            keys = sorted(set(keys) | {k for k in extra if k is not None})  # type: ignore[type-var]
        grouped = [(k, (), by_key.get(k, empty_metrics())) for k in keys]
        if not bucketed and not rows:
            grouped = [(None, (), empty_metrics())]
    else:
        grouped.sort(key=lambda g: (g[0] or 0, -g[2]["received"], tuple(_sort_key(v) for v in g[1])))

    totals = empty_metrics()
    out: list[dict[str, Any]] = []
    for key, dims, metrics in grouped:
        row_doc: dict[str, Any] = {}
        if bucketed:
            assert key is not None
            row_doc["bucket_start"] = grid.key_iso(key)
        row_doc.update(zip(query.dimensions, dims, strict=True))
        row_doc.update(metrics)
        for name in METRIC_NAMES:
            totals[name] += metrics[name]
        out.append(row_doc)
    return ReportResult(query, out, totals, meta)
