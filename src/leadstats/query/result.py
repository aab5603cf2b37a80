"""Grouped backend rows -> the CONTRACT §4 result: zero fill, ordering, totals. Backend-agnostic.

The work is columnar: a backend hands over an Arrow table (DuckDB) or tuples (the others, turned into
columns once), and filtering, ordering, labels, zero fill and totals are Arrow/numpy operations over
whole columns, so a report's cost grows with its rows, not with per-row Python. The row dicts of the
§4 document are built only when asked for (``ReportResult.rows``), once, from the finished columns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..model.dimensions import DIMENSIONS
from ..model.metrics import METRIC_NAMES
from ..model.rates import RATES, share_pct
from ..model.report import ReportQuery, ReportResult, with_rates

KEY = "__k"
# pyarrow 25 moved null placement into each sort key (and deprecated the global option).
_PER_KEY_NULLS = int(pa.__version__.split(".")[0]) >= 25
METRIC_COLUMNS: tuple[str, ...] = tuple(f"m_{name}" for name in METRIC_NAMES)


def _as_number(value: Any) -> Any:
    number = float(value)
    return int(number) if number.is_integer() else number


_CONVERT: dict[str, Callable[[Any], Any]] = {"bool": bool, "int": int, "number": _as_number, "string": str, "enum": str}


def dim_column(i: int) -> str:
    return f"__d{i}"


def _from_tuples(query: ReportQuery, rows: Sequence[tuple[Any, ...]]) -> pa.Table:
    """Tuples ``(key?, dims..., metrics...)`` (metrics in METRIC_NAMES order) as the columnar shape."""
    bucketed = query.grid.bucket is not None
    names = ([KEY] if bucketed else []) + [dim_column(i) for i in range(len(query.dimensions))]
    names += METRIC_COLUMNS
    columns: list[list[Any]] = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in names]
    arrays: list[pa.Array] = []
    for pos, (name, values) in enumerate(zip(names, columns, strict=True)):
        if name == KEY or name in METRIC_COLUMNS:
            arrays.append(pa.array([int(v) if v else 0 for v in values], pa.int64()))
            continue
        conv = _CONVERT[DIMENSIONS[query.dimensions[pos - bucketed]].kind]
        arrays.append(pa.array([None if v is None else conv(v) for v in values]))
    return pa.table(arrays, names=names)


def _int64(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(column.cast(pa.int64()), 0).to_numpy(zero_copy_only=False), dtype=np.int64)


def _dim_values(query: ReportQuery, i: int, column: pa.ChunkedArray) -> list[Any]:
    kind = DIMENSIONS[query.dimensions[i]].kind
    if pa.types.is_dictionary(column.type):
        column = column.cast(pa.string())
    values = column.to_pylist()
    if kind == "number":
        return [None if v is None else _as_number(v) for v in values]
    if kind == "int" and not pa.types.is_integer(column.type):
        return [None if v is None else int(v) for v in values]
    return values


def _sort_order(table: pa.Table, bucketed: bool, n_dims: int) -> np.ndarray:
    names = ([KEY] if bucketed else []) + ["m_received"] + [dim_column(i) for i in range(n_dims)]
    orders = (["ascending"] if bucketed else []) + ["descending"] + ["ascending"] * n_dims
    if _PER_KEY_NULLS:
        keys = [(n, o, "at_end") for n, o in zip(names, orders, strict=True)]
        return np.asarray(pc.sort_indices(table, sort_keys=keys))
    pairs = list(zip(names, orders, strict=True))
    return np.asarray(pc.sort_indices(table, sort_keys=pairs, null_placement="at_end"))


def assemble(query: ReportQuery, grouped: pa.Table | Sequence[tuple[Any, ...]], meta: dict[str, Any]) -> ReportResult:
    """Build the result document from a backend's grouped answer (see the module docstring)."""
    table = grouped if isinstance(grouped, pa.Table) else _from_tuples(query, grouped)
    grid = query.grid
    bucketed = grid.bucket is not None
    n_dims = len(query.dimensions)
    metrics = {name: _int64(table.column(col)) for name, col in zip(METRIC_NAMES, METRIC_COLUMNS, strict=True)}
    keys = _int64(table.column(KEY)) if bucketed else None
    keep = metrics["received"] > 0
    if not keep.all():
        table = table.filter(pa.array(keep))
        metrics = {name: values[keep] for name, values in metrics.items()}
        keys = keys[keep] if keys is not None else None

    dims: list[list[Any]] = []
    if not n_dims:
        # Time-only (or no bucket at all): every bucket of the window, zero-filled.
        if bucketed:
            assert keys is not None
            all_keys = np.union1d(np.asarray(grid.bucket_keys(), dtype=np.int64), keys)
            where = np.searchsorted(all_keys, keys)
            filled = {}
            for name, values in metrics.items():
                column = np.zeros(len(all_keys), dtype=np.int64)
                np.add.at(column, where, values)
                filled[name] = column
            metrics, keys = filled, all_keys
        else:
            metrics = {name: np.asarray([values.sum()], dtype=np.int64) for name, values in metrics.items()}
    else:
        # CONTRACT §4 order: bucket, received descending, then dimension values (nulls last).
        for i in range(n_dims):
            column = table.column(dim_column(i))
            if pa.types.is_dictionary(column.type):  # DuckDB ENUMs; Arrow sorts plain strings only
                table = table.set_column(table.schema.get_field_index(dim_column(i)), dim_column(i),
                                         column.cast(pa.string()))
        order = _sort_order(table, bucketed, n_dims)
        table = table.take(order)
        metrics = {name: values[order] for name, values in metrics.items()}
        keys = keys[order] if keys is not None else None
        dims = [_dim_values(query, i, table.column(dim_column(i))) for i in range(n_dims)]

    columns: dict[str, list[Any]] = {}
    if bucketed:
        assert keys is not None
        distinct, position = np.unique(keys, return_inverse=True)
        labels = grid.labels([int(k) for k in distinct])
        columns["bucket_start"] = [labels[i] for i in position.tolist()]
    columns.update(zip(query.dimensions, dims, strict=True))
    columns.update((name, values.tolist()) for name, values in metrics.items())
    totals: dict[str, Any] = {name: int(values.sum()) for name, values in metrics.items()}
    if query.rates:  # after the counts, from the one rate definition (model/rates.py)
        for rate in RATES:
            top = sum((metrics[n] for n in rate.numerator), np.zeros(len(metrics["received"]), dtype=np.int64))
            columns[rate.name] = [share_pct(n, d) for n, d in zip(top.tolist(), metrics[rate.denominator].tolist(),
                                                                  strict=True)]
        totals = with_rates(totals)
    return ReportResult.from_columns(query, columns, totals, meta)
