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
from ..model.rates import DIGITS, RATES, share_pct
from ..model.report import ReportQuery, ReportResult, with_rates

KEY = "__k"
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
    if column.type != pa.int64():
        column = column.cast(pa.int64())
    if column.null_count:
        column = pc.fill_null(column, 0)
    return np.asarray(column.to_numpy(), dtype=np.int64)


def _encoded(query: ReportQuery, i: int, column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, list[Any]]:
    """Dimension ``i`` as ``(codes, values)``: one int64 code per row, and the distinct values as the
    §4 document spells them (``values[-1]`` is None, the code of a null).

    The column is dictionary-encoded in C++ (DuckDB ENUMs arrive encoded already) and only its few
    distinct values are converted to Python: the rows are then numpy takes of those objects."""
    if isinstance(column, pa.ChunkedArray):
        if pa.types.is_dictionary(column.type) and column.num_chunks > 1:  # chunks may differ in dictionary
            column = column.cast(column.type.value_type)
        column = column.combine_chunks()
    encoded = column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)
    raw = encoded.dictionary.to_pylist()
    kind = DIMENSIONS[query.dimensions[i]].kind
    convert = _as_number if kind == "number" else int if kind == "int" else None
    values = [v if v is None or convert is None else convert(v) for v in raw]
    values.append(None)
    indices = encoded.indices
    if indices.null_count:
        indices = pc.fill_null(indices, len(values) - 1)
    return np.asarray(indices.to_numpy(), dtype=np.int64), values


def _ranks(values: list[Any]) -> np.ndarray:
    """Each distinct value's place in CONTRACT §4 order: ascending, nulls last."""
    order = sorted(range(len(values)), key=lambda j: (1, 0) if values[j] is None else (0, values[j]))
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[order] = np.arange(len(values), dtype=np.int64)
    return ranks


def _row_order(parts: list[tuple[np.ndarray, int]], n: int) -> np.ndarray:
    """The permutation sorting rows by ``parts``, most significant first; each part is ``(codes, size)``
    with codes in ``[0, size)``. The parts are packed into one int64 key when their sizes allow (they do
    for any realistic report), which one ``argsort`` orders; rows are distinct groups, so keys never tie."""
    room = 1
    for _, size in parts:
        room *= max(size, 1)
    if room >= 1 << 62:
        return np.lexsort([codes for codes, _ in reversed(parts)])
    packed = np.zeros(n, dtype=np.int64)
    for codes, size in parts:
        packed *= size
        packed += codes
    return np.argsort(packed)


def _take(values: list[Any], codes: np.ndarray) -> list[Any]:
    lookup = np.empty(len(values), dtype=object)
    lookup[:] = values
    return lookup[codes].tolist()  # type: ignore[no-any-return]


_SCALE = 10.0 ** DIGITS


def rate_column(numerator: np.ndarray, denominator: np.ndarray) -> list[float | None]:
    """:func:`share_pct` over whole columns, equal value for value.

    numpy rounds as ``rint(x * 100) / 100`` and Python's ``round`` on the exact binary value of ``x``;
    both give the double nearest to ``k / 100`` for the same integer ``k`` unless ``x * 100`` lies within
    a hair of a half, where the product's rounding can tip it. Those rows, and the ones with a zero
    denominator (``None``), take the scalar definition."""
    top = numerator.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = 100.0 * top / denominator
        scaled = x * _SCALE
        rounded = np.rint(scaled) / _SCALE
        tipping = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    out: list[float | None] = rounded.tolist()
    for i in np.flatnonzero(tipping | (denominator == 0)).tolist():
        out[i] = share_pct(int(numerator[i]), int(denominator[i]))
    return out


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
    labels: list[str] = []  # bucket_start per row: each distinct key labelled once (a report has few buckets)
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
            metrics = filled
            labels = grid.labels(all_keys.tolist())
        else:
            metrics = {name: np.asarray([values.sum()], dtype=np.int64) for name, values in metrics.items()}
    else:
        # CONTRACT §4 order: bucket, received descending, then dimension values (nulls last), as one
        # numpy sort of integer keys: each dimension sorts by the rank of its (few) distinct values.
        encoded = [_encoded(query, i, table.column(dim_column(i))) for i in range(n_dims)]
        parts: list[tuple[np.ndarray, int]] = []
        if keys is not None:
            distinct, position = np.unique(keys, return_inverse=True)
            position = position.reshape(-1)
            parts.append((position, len(distinct)))
        received = metrics["received"]
        most = int(received.max()) if len(received) else 0
        parts.append((most - received, most + 1))
        parts += [(_ranks(values)[codes], len(values)) for codes, values in encoded]
        order = _row_order(parts, len(received))
        metrics = {name: values[order] for name, values in metrics.items()}
        if keys is not None:
            labels = _take(grid.labels(distinct.tolist()), position[order])
        dims = [_take(values, codes[order]) for codes, values in encoded]

    columns: dict[str, list[Any]] = {}
    if bucketed:
        columns["bucket_start"] = labels
    columns.update(zip(query.dimensions, dims, strict=True))
    columns.update((name, values.tolist()) for name, values in metrics.items())
    totals: dict[str, Any] = {name: int(values.sum()) for name, values in metrics.items()}
    if query.rates:  # after the counts, from the one rate definition (model/rates.py)
        for rate in RATES:
            part = sum((metrics[n] for n in rate.numerator), np.zeros(len(metrics["received"]), dtype=np.int64))
            columns[rate.name] = rate_column(part, metrics[rate.denominator])
        totals = with_rates(totals)
    return ReportResult.from_columns(query, columns, totals, meta)
