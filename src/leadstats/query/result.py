"""Grouped backend rows -> the CONTRACT §4 result: zero fill, ordering, totals. Backend-agnostic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..model.dimensions import DIMENSIONS
from ..model.metrics import METRIC_NAMES
from ..model.report import ReportQuery, ReportResult, with_rates

_ZERO: tuple[int, ...] = (0,) * len(METRIC_NAMES)


def _as_number(value: Any) -> Any:
    number = float(value)
    return int(number) if number.is_integer() else number


_CONVERT: dict[str, Callable[[Any], Any]] = {"bool": bool, "int": int, "number": _as_number, "string": str, "enum": str}


def _sort_key(value: Any) -> tuple[int, Any]:
    return (1, "") if value is None else (0, value)


def assemble(query: ReportQuery, rows: list[tuple[Any, ...]], meta: dict[str, Any]) -> ReportResult:
    """Build the result document from ``(key?, dims..., metrics...)`` tuples (metrics in METRIC_NAMES order)."""
    grid = query.grid
    bucketed = grid.bucket is not None
    n_dims = len(query.dimensions)
    first_metric = int(bucketed) + n_dims
    converters = [_CONVERT[DIMENSIONS[d].kind] for d in query.dimensions]
    # (bucket key, dimension values, metric counts), metrics kept as tuples until the end.
    grouped: list[tuple[int | None, tuple[Any, ...], tuple[int, ...]]] = []
    for row in rows:
        metrics = tuple(int(v) if v else 0 for v in row[first_metric:])
        if metrics[0] <= 0:  # received
            continue
        key = int(row[0]) if bucketed else None
        dims = tuple(
            None if v is None else conv(v)
            for conv, v in zip(converters, row[int(bucketed) : first_metric], strict=True)
        )
        grouped.append((key, dims, metrics))

    if not n_dims:
        # Time-only (or no bucket at all): every bucket of the window, zero-filled.
        by_key = {key: metrics for key, _dims, metrics in grouped}
        keys: list[int | None] = [None]
        if bucketed:
            keys = [*sorted(set(grid.bucket_keys()) | {k for k in by_key if k is not None})]
        grouped = [(k, (), by_key.get(k, _ZERO)) for k in keys]
    else:
        grouped.sort(key=lambda g: (g[0] or 0, -g[2][0], tuple(_sort_key(v) for v in g[1])))

    distinct = sorted({g[0] for g in grouped if g[0] is not None})
    labels = dict(zip(distinct, grid.labels(distinct), strict=True))  # bucket key -> ISO start
    out: list[dict[str, Any]] = []
    for key, dims, metrics in grouped:
        row_doc: dict[str, Any] = {}
        if key is not None:
            row_doc["bucket_start"] = labels[key]
        row_doc.update(zip(query.dimensions, dims, strict=True))
        row_doc.update(zip(METRIC_NAMES, metrics, strict=True))
        out.append(with_rates(row_doc) if query.rates else row_doc)
    sums = [sum(column) for column in zip(*(g[2] for g in grouped), strict=True)] if grouped else _ZERO
    totals: dict[str, Any] = dict(zip(METRIC_NAMES, sums, strict=True))
    return ReportResult(query, out, with_rates(totals) if query.rates else totals, meta)
