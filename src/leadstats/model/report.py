"""The report query and result types (CONTRACT §3-§4), and their parsing from every front end's form."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import QueryError
from .country import country_code
from .csv_safety import safe_row
from .schema import (
    BUCKET_ALIASES,
    BUCKETS,
    DEFAULT_SUSPICIOUS_MIN,
    DIMENSIONS,
    ENGAGEMENT_LABELS,
    FALSE_WORDS,
    METRIC_NAMES,
    TRUE_WORDS,
    Bucket,
)
from .timegrid import TimeGrid, iso_local, parse_bound, zone

FilterOp = Literal["is", "is_not", "contains"]
FILTER_OPS: tuple[str, ...] = ("is", "is_not", "contains")
Value = str | int | float | bool | None


@dataclass(frozen=True)
class Filter:
    op: FilterOp
    dimension: str
    values: tuple[Value, ...]

    def to_json(self) -> list[Any]:
        return [self.op, self.dimension, list(self.values)]

    def describe(self) -> str:
        words = {"is": "is one of", "is_not": "is none of", "contains": "contains one of"}[self.op]
        return f"{self.dimension} {words} {', '.join('null' if v is None else str(v) for v in self.values)}"


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


def parse_dimensions(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    dims: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise QueryError(f"dimension names must be strings, got {item!r}", field="dimensions")
        name = item.strip()
        if not name:
            continue
        if name not in DIMENSIONS:
            raise QueryError(f"unknown dimension {name!r}: use one of {', '.join(DIMENSIONS)}", field="dimensions")
        if name in dims:
            raise QueryError(f"dimension {name!r} is listed twice", field="dimensions")
        dims.append(name)
    return tuple(dims)


def _coerce_value(dimension: str, value: Any, op: str) -> Value:
    """Filter values arrive as text from the CLI and URLs; give them the dimension's type and the
    spelling the store uses (``India`` -> ``IN``, ``very hot`` -> ``Very Hot``, ``Follow-Up`` -> ``follow_up``)."""
    kind = DIMENSIONS[dimension].kind
    if value is None:
        return None
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
        raise QueryError(f"filter on {dimension}: {value!r} is not true or false", field="filters")
    if kind in ("int", "number"):
        if isinstance(value, bool):
            raise QueryError(f"filter on {dimension}: {value!r} is not a number", field="filters")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise QueryError(f"filter on {dimension}: {value!r} is not a number", field="filters") from None
        if not math.isfinite(number):
            raise QueryError(f"filter on {dimension}: {value!r} is not a number", field="filters")
        if kind == "int":
            if number != int(number):
                raise QueryError(f"filter on {dimension}: {value!r} is not a whole number", field="filters")
            return int(number)
        return number
    if isinstance(value, (dict, list)):
        raise QueryError(f"filter on {dimension}: values must be scalars", field="filters")
    text = str(value)
    if op == "contains":
        return text
    if dimension == "event_type":
        return text.strip().lower().replace("-", "_")
    if dimension == "engagement_label":
        canonical = {label.lower(): label for label in ENGAGEMENT_LABELS}
        return canonical.get(" ".join(text.replace("_", " ").lower().split()), text)
    if dimension == "country":
        return country_code(text) or text
    return text.strip()


def make_filter(op: str, dimension: str, values: Any) -> Filter:
    if not isinstance(op, str) or op not in FILTER_OPS:
        raise QueryError(f"unknown filter operator {op!r}: use is, is_not or contains", field="filters")
    if not isinstance(dimension, str) or dimension not in DIMENSIONS:
        raise QueryError(f"unknown filter dimension {dimension!r}: use one of {', '.join(DIMENSIONS)}", field="filters")
    if not isinstance(values, (list, tuple)):
        values = [values]
    if not values:
        raise QueryError(f"filter on {dimension} has no values", field="filters")
    coerced = tuple(_coerce_value(dimension, v, op) for v in values)
    if op == "contains" and any(v is None or not isinstance(v, str) for v in coerced):
        raise QueryError(f"contains on {dimension} takes text values", field="filters")
    if op == "contains" and DIMENSIONS[dimension].kind != "string":
        raise QueryError(f"contains works on text dimensions, not {dimension}", field="filters")
    return Filter(op, dimension, coerced)  # type: ignore[arg-type]


def parse_filters(value: Any) -> tuple[Filter, ...]:
    """JSON form ``[["is", "country", ["IN"]], ...]`` (a dict form ``{"op":..}`` is accepted too)."""
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise QueryError('filters must be a list like [["is", "country", ["IN", "US"]]]', field="filters")
    out = []
    for item in value:
        if isinstance(item, Mapping):
            out.append(make_filter(item.get("op", ""), item.get("dimension", ""), item.get("values", [])))
        elif isinstance(item, (list, tuple)) and len(item) == 3 and all(isinstance(x, str) for x in item[:2]):
            out.append(make_filter(item[0], item[1], item[2]))
        else:
            raise QueryError(
                f'bad filter {item!r}: expected ["is"|"is_not"|"contains", dimension, [values]]', field="filters"
            )
    return tuple(out)


def parse_filter_expr(expr: str) -> Filter:
    """CLI / URL form: ``DIM=V1,V2`` (is one of), ``DIM!=V`` (is none of), ``DIM~=V`` (contains);
    values are CSV, so a value with a comma is quoted: ``project="Alpha, Phase 2",Skyline``."""
    idx = expr.find("=")
    if idx <= 0:
        raise QueryError(f"bad filter {expr!r}: expected DIM=V1,V2 or DIM!=V", field="filters")
    ops = {"!": "is_not", "~": "contains"}
    op = ops.get(expr[idx - 1], "is")
    dim = expr[: idx - 1] if op != "is" else expr[:idx]
    raw = expr[idx + 1 :]
    try:
        rows = list(csv.reader([raw], skipinitialspace=False))
    except csv.Error as exc:
        raise QueryError(f"bad filter {expr!r}: {exc}", field="filters") from None
    values = rows[0] if rows else [""]
    return make_filter(op, dim.strip(), values)


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
    suspicious_min: float | int = 40

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
    ) -> ReportQuery:
        tz_name = timezone or "Asia/Kolkata"
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
        return cls(grid, tz_name, dims, flt, _parse_min(suspicious_min))

    @classmethod
    def from_json(cls, doc: Any, *, default_timezone: str | None = None) -> ReportQuery:
        """The JSON form of CONTRACT §3 (HTTP POST /api/v1/query, MCP ``lead_stats``)."""
        if not isinstance(doc, Mapping):
            raise QueryError("the query must be a JSON object")
        known = {"date_range", "from", "to", "timezone", "bucket", "dimensions", "filters", "suspicious_min"}
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
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": iso_local(self.grid.start_us, self.grid.tz),
            "to": iso_local(self.grid.end_us, self.grid.tz),
            "timezone": self.timezone,
            "bucket": self.bucket.name if self.bucket else None,
            "dimensions": list(self.dimensions),
            "filters": [f.to_json() for f in self.filters],
            "suspicious_min": self.suspicious_min,
        }

    def describe(self) -> str:
        """The query in plain words, for tables, logs and AI-facing output."""
        parts = [f"{self.to_dict()['from']} to {self.to_dict()['to']} ({self.timezone})"]
        if self.bucket:
            parts.append(f"by {self.bucket.name}")
        if self.dimensions:
            parts.append("split by " + ", ".join(self.dimensions))
        parts.extend("where " + f.describe() for f in self.filters)
        return "; ".join(parts)


@dataclass
class ReportResult:
    query: ReportQuery
    rows: list[dict[str, Any]]
    totals: dict[str, int]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query.to_dict(), "rows": self.rows, "totals": self.totals, "meta": self.meta}

    @property
    def columns(self) -> list[str]:
        head = ["bucket_start"] if self.query.bucket else []
        return [*head, *self.query.dimensions, *METRIC_NAMES]

    def to_csv(self) -> str:
        buf = io.StringIO()
        self.write_csv(buf)
        return buf.getvalue()

    def write_csv(self, out: io.TextIOBase | Any) -> None:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(_csv_row(row, self.columns) for row in self.rows)


def _csv_row(row: Mapping[str, Any], columns: Iterable[str]) -> list[Any]:
    return safe_row(row.get(c) for c in columns)  # formula-safe cells (model/csv_safety.py)
