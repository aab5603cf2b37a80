"""The report query and result types (CONTRACT §3-§4), and their parsing from every front end's form."""

from __future__ import annotations

import csv
import gc
import io
import json
import keyword
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from typing import Any

from ..errors import QueryError
from .csv_safety import safe_cell, safe_row
from .dimensions import parse_dimensions
from .filters import FILTER_OPS, Filter, FilterOp, Value, make_filter, parse_filter_expr, parse_filters
from .metrics import METRIC_NAMES
from .rates import RATE_NAMES, rate_values
from .schema import BUCKET_ALIASES, BUCKETS, Bucket
from .timegrid import TimeGrid, iso_local, parse_bound, zone
from .vocabulary import DEFAULT_SUSPICIOUS_MIN, DEFAULT_TIMEZONE

__all__ = [
    "FILTER_OPS",
    "Filter",
    "FilterOp",
    "ReportQuery",
    "ReportResult",
    "Value",
    "make_filter",
    "parse_bucket",
    "parse_dimensions",
    "parse_filter_expr",
    "parse_filters",
]


def parse_bucket(value: str | None) -> Bucket | None:
    if value is None:
        return None
    name = str(value).strip().lower()
    if name in ("", "none", "null"):
        return None
    name = BUCKET_ALIASES.get(name, name)
    if name not in BUCKETS:
        raise QueryError(
            f"unknown bucket {value!r}: use one of {', '.join(BUCKETS)} (or 1h), or omit it", field="bucket"
        )
    return BUCKETS[name]


def parse_rates(value: Any) -> bool:
    """The ``rates`` option: a bool (JSON, Python) or its text spelling (URL, ``true``/``false``)."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise QueryError(f"rates must be true or false, got {value!r}", field="rates")


def _parse_min(value: Any) -> float | int:
    if value is None:
        return int(DEFAULT_SUSPICIOUS_MIN)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise QueryError(f"suspicious_min must be a number, got {value!r}", field="suspicious_min") from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise QueryError(f"suspicious_min must be a number, got {value!r}", field="suspicious_min")
    return int(number) if number == int(number) else number


@dataclass(frozen=True)
class ReportQuery:
    """One report question, already validated. Build it with :meth:`create` or :meth:`from_json`."""

    grid: TimeGrid
    timezone: str
    dimensions: tuple[str, ...] = ()
    filters: tuple[Filter, ...] = ()
    suspicious_min: float | int = int(DEFAULT_SUSPICIOUS_MIN)
    rates: bool = False  # every row and the totals also carry the five rates (CONTRACT §2)

    @property
    def bucket(self) -> Bucket | None:
        return self.grid.bucket

    @classmethod
    def create(
        cls,
        start: Any,
        end: Any,
        *,
        timezone: str | None = None,
        bucket: str | None = None,
        dimensions: str | Sequence[str] | None = None,
        filters: Any = None,
        suspicious_min: Any = None,
        rates: Any = None,
    ) -> ReportQuery:
        tz_name = timezone or DEFAULT_TIMEZONE
        tz = zone(tz_name)
        if start is None or end is None:
            raise QueryError("a report needs both from and to", field="from" if start is None else "to")
        start_us = parse_bound(start, tz, "from")
        end_us = parse_bound(end, tz, "to")
        dims = parse_dimensions(dimensions)
        flt: tuple[Filter, ...]
        if filters is None:
            flt = ()
        elif isinstance(filters, (list, tuple)) and all(isinstance(f, Filter) for f in filters):
            flt = tuple(filters)
        else:
            flt = parse_filters(filters)
        need_local = any(d in ("hour_of_day", "weekday") for d in dims) or any(
            f.dimension in ("hour_of_day", "weekday") for f in flt
        )
        grid = TimeGrid.build(tz, start_us, end_us, parse_bucket(bucket), need_local)
        return cls(grid, tz_name, dims, flt, _parse_min(suspicious_min), parse_rates(rates))

    @classmethod
    def from_json(cls, doc: Any, *, default_timezone: str | None = None) -> ReportQuery:
        """The JSON form of CONTRACT §3 (HTTP POST /api/v1/query, MCP ``lead_stats``)."""
        if not isinstance(doc, Mapping):
            raise QueryError("the query must be a JSON object")
        known = {"date_range", "from", "to", "timezone", "bucket", "dimensions", "filters", "suspicious_min", "rates"}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise QueryError(f"unknown query field(s): {', '.join(unknown)}", field=unknown[0])
        date_range = doc.get("date_range")
        if date_range is not None:
            if not isinstance(date_range, (list, tuple)) or len(date_range) != 2:
                raise QueryError('date_range must be ["from", "to"]', field="date_range")
            start, end = date_range
        else:
            start, end = doc.get("from"), doc.get("to")
        return cls.create(
            start,
            end,
            timezone=doc.get("timezone") or default_timezone,
            bucket=doc.get("bucket"),
            dimensions=doc.get("dimensions"),
            filters=doc.get("filters"),
            suspicious_min=doc.get("suspicious_min"),
            rates=doc.get("rates"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The echoed query of CONTRACT §4; ``rates`` appears when it is on."""
        doc: dict[str, Any] = {
            "from": iso_local(self.grid.start_us, self.grid.tz),
            "to": iso_local(self.grid.end_us, self.grid.tz),
            "timezone": self.timezone,
            "bucket": self.bucket.name if self.bucket else None,
            "dimensions": list(self.dimensions),
            "filters": [f.to_json() for f in self.filters],
            "suspicious_min": self.suspicious_min,
        }
        if self.rates:
            doc["rates"] = True
        return doc

    def describe(self) -> str:
        """The query in plain words, for tables, logs and AI-facing output."""
        parts = [f"{self.to_dict()['from']} to {self.to_dict()['to']} ({self.timezone})"]
        if self.bucket:
            parts.append(f"by {self.bucket.name}")
        if self.dimensions:
            parts.append("split by " + ", ".join(self.dimensions))
        parts.extend("where " + f.describe() for f in self.filters)
        return "; ".join(parts)


def with_rates(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """A row (or the totals) with the five rates after its counts."""
    return {**metrics, **rate_values(metrics)}


class ReportResult:
    """A report's answer: the §4 document is ``to_dict()``; ``rows`` are its row dicts.

    Results built by the engine keep their rows as columns (:meth:`from_columns`) and make the row dicts
    once, on first use; CSV is written straight from the columns.
    """

    def __init__(
        self,
        query: ReportQuery,
        rows: list[dict[str, Any]] | None,
        totals: dict[str, Any],
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.query = query
        self._rows = rows
        self._columns: dict[str, list[Any]] | None = None
        self.totals = totals
        self.meta = meta if meta is not None else {}

    @classmethod
    def from_columns(
        cls, query: ReportQuery, columns: dict[str, list[Any]], totals: dict[str, Any], meta: dict[str, Any]
    ) -> ReportResult:
        """A result over equal-length columns in row-key order; the count columns (METRIC_NAMES) hold ints."""
        result = cls(query, None, totals, meta)
        result._columns = columns
        return result

    @property
    def rows(self) -> list[dict[str, Any]]:
        if self._rows is None:
            columns = self._columns or {}
            if len({len(values) for values in columns.values()}) > 1:
                raise ValueError("report columns of different lengths")
            with _acyclic_burst():
                self._rows = _row_maker(tuple(columns))(columns.values()) if columns else []
        return self._rows

    @rows.setter
    def rows(self, value: list[dict[str, Any]]) -> None:
        self._rows, self._columns = value, None

    def __len__(self) -> int:
        if self._rows is None and self._columns:
            return len(next(iter(self._columns.values())))
        return len(self.rows)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReportResult):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"ReportResult({self.query.describe()!r}, {len(self)} rows, totals={self.totals!r})"

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query.to_dict(), "rows": self.rows, "totals": self.totals, "meta": self.meta}

    def to_json(self, separators: tuple[str, str] = (", ", ": ")) -> str:
        """The §4 document as JSON text: exactly ``json.dumps(self.to_dict(), ensure_ascii=False,
        allow_nan=False, separators=separators)``, written from the columns when the row dicts were never
        built (a big report's dicts and their generic encoding cost several times the query).

        Each column's distinct values are encoded once by :func:`json.dumps` itself (the counts, ints by
        construction (:meth:`from_columns`), by ``str``); each row is one generated f-string whose keys
        are literal text (:func:`_row_writer`)."""
        dumps = _dumps(separators)
        if self._rows is not None or self._columns is None:
            return dumps(self.to_dict())
        item, key = separators
        body = item.join(_json_rows(self._columns, separators)) if self._columns else ""
        return (f"{{{dumps('query')}{key}{dumps(self.query.to_dict())}{item}{dumps('rows')}{key}[{body}]"
                f"{item}{dumps('totals')}{key}{dumps(self.totals)}{item}{dumps('meta')}{key}{dumps(self.meta)}}}")

    @property
    def columns(self) -> list[str]:
        head = ["bucket_start"] if self.query.bucket else []
        return [*head, *self.query.dimensions, *METRIC_NAMES, *(RATE_NAMES if self.query.rates else ())]

    def to_csv(self) -> str:
        buf = io.StringIO()
        self.write_csv(buf)
        return buf.getvalue()

    def write_csv(self, out: io.TextIOBase | Any) -> None:
        for chunk in self.csv_chunks():
            out.write(chunk)

    def csv_chunks(self, rows_per_chunk: int = 2_000) -> Iterator[str]:
        """The CSV text (header first) in pieces of at most ``rows_per_chunk`` rows, for streaming;
        formula-safe cells (model/csv_safety.py); from the columns when the row dicts were never built."""
        names = self.columns
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(names)
        if self._rows is None and self._columns is not None:
            cols = self._columns
            n = len(cols[names[0]]) if names and names[0] in cols else 0
            for start in range(0, max(n, 1), rows_per_chunk):
                part = slice(start, start + rows_per_chunk)
                # the counts are ints already; every other cell through safe_cell
                cells = [cols[c][part] if c in METRIC_NAMES else _map_distinct(safe_cell, cols[c][part]) for c in names]
                writer.writerows(zip(*cells, strict=True))
                yield _drain(buf)
            return
        rows = self.rows
        for start in range(0, max(len(rows), 1), rows_per_chunk):
            writer.writerows(_csv_row(row, names) for row in rows[start : start + rows_per_chunk])
            yield _drain(buf)


def _drain(buf: io.StringIO) -> str:
    text = buf.getvalue()
    buf.seek(0)
    buf.truncate()
    return text


@lru_cache(maxsize=4)
def _dumps(separators: tuple[str, str]) -> Callable[[Any], str]:
    encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=separators)
    return encoder.encode


_NUMBER_TYPES = frozenset({bool, int, float})


def _map_distinct(fn: Callable[[Any], Any], values: list[Any]) -> list[Any]:
    """``[fn(v) for v in values]``, calling ``fn`` once per distinct value (a report column has few).
    Equal values of different types (``True``, ``1``, ``1.0``) would share one dict entry: a column that
    mixes them (none of the engine's do) is mapped value by value."""
    kinds = set(map(type, values))
    if len(kinds & _NUMBER_TYPES) > 1 and (bool in kinds or any(
            type(v) is float and v.is_integer() for v in set(values))):
        return list(map(fn, values))
    done = {v: fn(v) for v in set(values)}
    return list(map(done.__getitem__, values))


def _json_texts(values: list[Any], dumps: Callable[[Any], str], counts: bool = False) -> list[str]:
    """Each value's JSON text (``counts``: ints by construction, whose JSON text is ``str``)."""
    if counts:
        texts = {v: str(v) for v in set(values)}
        return list(map(texts.__getitem__, values))
    return _map_distinct(dumps, values)


def _json_rows(columns: dict[str, list[Any]], separators: tuple[str, str]) -> list[str]:
    """Every row's JSON object text, from equal-length columns (see :meth:`ReportResult.to_json`)."""
    dumps = _dumps(separators)
    cells = [_json_texts(values, dumps, counts=name in METRIC_NAMES) for name, values in columns.items()]
    if len({len(c) for c in cells}) > 1:
        raise ValueError("report columns of different lengths")
    return _row_writer(tuple(columns), separators)(cells)


@lru_cache(maxsize=64)
def _row_writer(names: tuple[str, ...], separators: tuple[str, str]) -> Callable[[list[list[str]]], list[str]]:
    """A function joining columns of JSON texts into JSON objects keyed by ``names``: one generated
    f-string per row with the keys as literal text (as :func:`_row_maker`), or a ``%`` template when a
    key or separator holds characters an f-string literal would need escaped."""
    dumps = _dumps(separators)
    item, key = separators
    heads = [dumps(name) + key for name in names]
    literal = "".join([item, *heads])
    if all(n.isidentifier() for n in names) and not set(literal) & set("{}'\\\n\r"):
        values = [f"v{i}" for i in range(len(names))]
        body = item.join(f"{head}{{{v}}}" for head, v in zip(heads, values, strict=True))
        source = f"lambda cells: [f'{{{{{body}}}}}' for ({', '.join(values)},) in zip(*cells)]"
        writer: Callable[[list[list[str]]], list[str]] = eval(source, {"__builtins__": {"zip": zip}})  # noqa: S307
        return writer
    template = "{" + item.join(head.replace("%", "%%") + "%s" for head in heads) + "}"
    return lambda cells: [template % row for row in zip(*cells, strict=True)]


@contextmanager
def _acyclic_burst() -> Iterator[None]:
    """Pause the cyclic garbage collector while a burst of containers that cannot form cycles is built.

    A 165,000-row report makes 165,000 dicts; each 700 of them trigger a collection, and every few
    hundred thousand a full pass over every live object of the process (a server's whole heap). The
    row dicts hold only strings, numbers and None, so those passes find nothing: measured, they cost
    30-50% of building the rows. Reference counting still frees everything; the collector resumes
    (if it was on) when the burst ends, whatever happens in it."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


#: CPython shares one key table among the ``__dict__``s of a class's instances up to this many keys.
_SHARED_KEYS_MAX = 30


@lru_cache(maxsize=256)
def _row_maker(names: tuple[str, ...]) -> Callable[[Iterable[list[Any]]], list[dict[str, Any]]]:
    """A function turning equal-length columns into row dicts keyed by ``names``, the figure that bounds
    a big report's ``to_dict()``.

    Each row is the ``__dict__`` of an instance of a class made for these names, its attributes set in
    ``names`` order by generated code: CPython (3.11+) gives such dicts one shared key table (a
    "split" dict) and only a values array of their own, so a 13-key row is built ~35% faster, freed
    ~50% faster and takes 176 bytes instead of 464 than as a dict display. They are plain ``dict``s in
    every other respect (equality, order, JSON, a caller adding a key). Names that could not be
    attributes take the generic path."""
    usable = all(isinstance(n, str) and n.isidentifier() and not keyword.iskeyword(n) and not n.startswith("__")
                 for n in names)
    if not usable or len(names) > _SHARED_KEYS_MAX:
        return lambda columns: list(map(dict, map(zip, repeat(names), zip(*columns, strict=True))))
    values = [f"v{i}" for i in range(len(names))]
    sets = "".join(f"\n        row.{name} = {v}" for name, v in zip(names, values, strict=True))
    source = (f"def make(columns):\n    rows = []\n    add = rows.append\n"
              f"    for ({', '.join(values)},) in zip(*columns):\n        row = Row(){sets}\n"
              f"        add(row.__dict__)\n    return rows\n")
    scope: dict[str, Any] = {"__builtins__": {"zip": zip}, "Row": type("ReportRow", (), {})}
    exec(source, scope)  # noqa: S102 (the source is built from identifiers checked above)
    maker: Callable[[Iterable[list[Any]]], list[dict[str, Any]]] = scope["make"]
    return maker


def _csv_row(row: Mapping[str, Any], columns: Iterable[str]) -> list[Any]:
    return safe_row(row.get(c) for c in columns)  # formula-safe cells (model/csv_safety.py)
