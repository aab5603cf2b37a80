"""Compile a :class:`ReportQuery` into one grouped SQL statement.

The statement returns one row per group: the bucket key (when bucketed), one column per dimension, then
one column per metric in ``METRIC_NAMES`` order. Time bucketing is integer arithmetic on UTC microseconds
with the zone's offset per segment (see :mod:`leadstats.model.timegrid`): no per-row time zone call.
Dimension names come only from the registry; every user value is a bound parameter (or an escaped literal
for a dialect without parameters).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..model.dimensions import DIMENSIONS
from ..model.filters import Filter, FilterTarget
from ..model.metrics import METRIC_NAMES, METRICS
from ..model.report import ReportQuery
from ..model.timegrid import DAY_US, US, Segment, TimeGrid, from_us
from ..model.vocabulary import EVENT_TYPES
from .dialect import Dialect

HOUR_US = 3600 * US


def _naive_utc(us: int) -> datetime:
    return from_us(us).replace(tzinfo=None)


@dataclass(frozen=True)
class Relation:
    """What the compiler reads from: a table of events, a rollup, or a foreign layout (Analytics Engine).

    ``columns`` maps logical fields to SQL expressions (default: the quoted field name); ``weight`` is
    the SQL of a per-row multiplicity (None: every row counts once); a rollup keeps pre-summed metric
    columns (every metric, ``suspicious`` at the threshold the relation was built for) instead of events.
    """

    table: str
    time_us: str
    window_column: str
    window_value: Callable[[int], Any] = _naive_utc
    window_type: str = "timestamp"
    columns: Mapping[str, str] = field(default_factory=dict)
    weight: str | None = None
    rollup: bool = False
    # SQL that is true when a column holds "null", where that is not IS NULL (e.g. "blob1 = ''").
    null_tests: Mapping[str, str] = field(default_factory=dict)
    # A predicate every row must pass to be an event at all (Analytics Engine: a known event type).
    where: str | None = None
    # Every row's event_type is exactly one of EVENT_TYPES (a NOT NULL enum): with unweighted counts,
    # ``submissions`` and the last type's count follow from the others (see _Compiler.derived).
    closed_types: bool = False


@dataclass(frozen=True)
class CompiledQuery:
    sql: str
    params: list[Any] | dict[str, Any]
    has_key: bool
    dimensions: tuple[str, ...]


class _Binder:
    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.positional: list[Any] = []
        self.named: dict[str, Any] = {}

    def __call__(self, value: Any, ch_type: str = "String") -> str:
        d = self.dialect
        if d.inline_params:
            return d.literal(value)
        if d.param_style == "named":
            name = f"p{len(self.named)}"
            self.named[name] = value
            return "{" + f"{name}:{ch_type}" + "}"
        self.positional.append(value)
        return f"${len(self.positional)}"

    @property
    def params(self) -> list[Any] | dict[str, Any]:
        return self.named if self.dialect.param_style == "named" else self.positional


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "Bool"
    if isinstance(value, int):
        return "Int64"
    if isinstance(value, float):
        return "Float64"
    return "String"


class _Compiler:
    def __init__(self, query: ReportQuery, relation: Relation, dialect: Dialect) -> None:
        self.q = query
        self.rel = relation
        self.d = dialect
        self.bind = _Binder(dialect)
        # Per-row UTC and local microseconds: columns of nested SELECTs, or inline expressions for a
        # dialect without subqueries (Analytics Engine).
        self.ut = "__ut" if dialect.subqueries else f"({relation.time_us})"
        self.lt = "__lt" if dialect.subqueries else f"({self.local_us()})"

    # -- building blocks -------------------------------------------------------------------------
    def col(self, name: str) -> str:
        return self.rel.columns.get(name) or self.d.ident(name)

    def div(self, a: str, b: int) -> str:
        return self.d.int_div.format(a=a, b=b)

    def _by_segment(self, piece: Callable[[Segment], str]) -> str:
        """CASE over the grid's constant-offset segments; ``piece(segment)`` gives each arm."""
        segs = self.q.grid.segments
        if len(segs) == 1:
            return piece(segs[0])
        arms = [(f"{self.ut} < {nxt.start_us}", piece(seg)) for seg, nxt in zip(segs, segs[1:], strict=False)]
        return self.d.case(arms, piece(segs[-1]))

    def local_us(self) -> str:
        return self._by_segment(lambda seg: f"({self.ut} + {seg.offset_us})")

    def bucket_key(self, grid: TimeGrid) -> str:
        assert grid.bucket is not None
        kind = grid.bucket.kind
        if kind == "fixed":
            width = grid.bucket.seconds * US

            def arm(seg: Segment) -> str:
                # The lattice point of this segment's offset; if it falls before the segment began, the
                # bucket started earlier, at the segment's precomputed clamp (see timegrid).
                start = f"({self.div(f'{self.ut} + {seg.offset_us}', width)} * {width} - {seg.offset_us})"
                if seg.clamp_us is None:
                    return start
                return self.d.case([(f"{start} >= {seg.start_us}", start)], str(seg.clamp_us))

            return self._by_segment(arm)
        day = self.div(self.lt, DAY_US)
        if kind == "day":
            return day
        if kind == "week":
            return f"{day} - ({day} + 3) % 7"
        return self.d.month_first_day.format(d=day)

    def dim_expr(self, name: str) -> str:
        if name == "hour_of_day":
            return f"{self.div(self.lt, HOUR_US)} % 24"
        if name == "weekday":
            return f"({self.div(self.lt, DAY_US)} + 3) % 7 + 1"
        return self.col(DIMENSIONS[name].column)

    def filter_sql(self, f: Filter) -> str:
        """The operator's SQL (model/filters.py), with this dialect's spelling of the pieces."""
        expr = self.dim_expr(f.dimension)
        values = [v for v in f.values if v is not None]
        if f.dimension in ("event_type", "engagement_label"):
            bound = tuple(self.bind(str(v)) for v in values)
        else:
            bound = tuple(self.bind(v, _type_of(v)) for v in values)
        null_test = self.rel.null_tests.get(DIMENSIONS[f.dimension].column)
        target = FilterTarget(
            expr=expr,
            values=bound,
            has_null=len(values) != len(f.values),
            is_null=null_test or f"{expr} IS NULL",
            not_null=f"NOT ({null_test})" if null_test else f"{expr} IS NOT NULL",
            contains=lambda value: self.d.contains.format(col=expr, value=value),
        )
        return f.operator.sql(target)

    def derived(self) -> dict[str, str]:
        """Metrics computed from other metrics after grouping instead of counted per row: every filtered
        count costs the engine a pass over the window's rows, a sum of two grouped columns costs nothing.
        Exact only where each event has exactly one of the five types and counts are unweighted."""
        if not self.rel.closed_types or self.rel.rollup or self.rel.weight is not None or not self.d.subqueries:
            return {}
        m = {name: self.d.ident("m_" + name) for name in METRIC_NAMES}
        *others, last = EVENT_TYPES
        return {
            "submissions": f"{m['primary']} + {m['follow_up']}",
            last: " - ".join([m["received"], *(m[t] for t in others)]),
        }

    def metric_sql(self) -> list[str]:
        if self.rel.rollup:  # pre-aggregated: every metric is a column of the relation
            return [self.d.total.format(value=self.col(name)) for name in METRIC_NAMES]
        smin = self.bind(self.q.suspicious_min, _type_of(self.q.suspicious_min))
        conds = metric_conditions(self.col, smin)
        w = self.rel.weight
        out = []
        for name in METRIC_NAMES:
            cond = conds[name]
            if w is None:
                out.append("count(*)" if cond is None else self.d.count_if.format(cond=cond))
            else:
                out.append(self.d.total.format(value=w) if cond is None else self.d.sum_if.format(value=w, cond=cond))
        return out

    # -- the statement ---------------------------------------------------------------------------
    def compile(self) -> CompiledQuery:
        q, rel, grid = self.q, self.rel, self.q.grid
        lo = self.bind(rel.window_value(grid.start_us), rel.window_type)
        hi = self.bind(rel.window_value(grid.end_us), rel.window_type)
        if rel.window_type == "timestamp" and not self.d.inline_params:
            lo = self.d.timestamp_param.format(p=lo)
            hi = self.d.timestamp_param.format(p=hi)
        wc = rel.window_column
        where = [f"{wc} >= {lo}", f"{wc} < {hi}"]
        where += [self.filter_sql(f) for f in q.filters]
        if rel.where:
            where.append(f"({rel.where})")
        selects: list[str] = []
        if grid.bucket is not None:
            selects.append(f"{self.bucket_key(grid)} AS __k")
        selects += [f"{self.dim_expr(d)} AS __d{i}" for i, d in enumerate(q.dimensions)]
        derived = self.derived()
        selects += [
            f"{m} AS {self.d.ident('m_' + name)}"
            for m, name in zip(self.metric_sql(), METRIC_NAMES, strict=True) if name not in derived
        ]
        n_keys = (grid.bucket is not None) + len(q.dimensions)
        group = f" GROUP BY {', '.join(str(i + 1) for i in range(n_keys))}" if n_keys else ""
        if n_keys and self.d.group_by_alias:
            aliases = (["__k"] if grid.bucket is not None else []) + [f"__d{i}" for i in range(len(q.dimensions))]
            group = f" GROUP BY {', '.join(aliases)}"
        if not self.d.subqueries:
            # One table, one SELECT: the time expressions are already inlined (self.ut / self.lt).
            sql = f"SELECT {', '.join(selects)} FROM {rel.table} WHERE {' AND '.join(where)}{group}"
            return CompiledQuery(sql, self.bind.params, grid.bucket is not None, q.dimensions)
        inner = f"SELECT *, {rel.time_us} AS __ut FROM {rel.table} WHERE {' AND '.join(where[:2])}"
        # Derived local time once per row, only when something needs it.
        needs_local = (grid.bucket is not None and grid.bucket.kind != "fixed") or any(
            d in ("hour_of_day", "weekday") for d in (*q.dimensions, *(f.dimension for f in q.filters))
        )
        if needs_local:
            inner = f"SELECT *, {self.local_us()} AS __lt FROM ({inner}) AS __w"
        rest = where[2:]
        sql = f"SELECT {', '.join(selects)} FROM ({inner}) AS __e"
        if rest:
            sql += f" WHERE {' AND '.join(rest)}"
        sql += group
        if derived:
            outer = (["__k"] if grid.bucket is not None else []) + [f"__d{i}" for i in range(len(q.dimensions))]
            outer += [f"{derived[name]} AS {self.d.ident('m_' + name)}" if name in derived
                      else self.d.ident("m_" + name) for name in METRIC_NAMES]
            sql = f"SELECT {', '.join(outer)} FROM ({sql}) AS __a"
        return CompiledQuery(sql, self.bind.params, grid.bucket is not None, q.dimensions)


def metric_conditions(col: Callable[[str], str], suspicious_min: str | None) -> dict[str, str | None]:
    """CONTRACT §2 as SQL conditions (None: every row), rendered from the one metric registry
    (:mod:`leadstats.model.metrics`) for every engine and the DuckDB rollup. ``col`` spells a column;
    ``suspicious_min`` is the threshold's SQL (None: leave the threshold metrics out, as the rollup keys
    them by score instead)."""
    return {
        m.name: m.condition(col, suspicious_min or "")
        for m in METRICS
        if suspicious_min is not None or not m.by_threshold
    }


def compile_report(query: ReportQuery, relation: Relation, dialect: Dialect) -> CompiledQuery:
    """``ReportQuery`` -> one SQL statement for ``dialect`` over ``relation``.

    >>> from leadstats.model.report import ReportQuery
    >>> from leadstats.query.dialect import DUCKDB
    >>> q = ReportQuery.create("2026-03-01", "2026-03-02", bucket="60m")
    >>> c = compile_report(q, Relation("events", "epoch_us(occurred_at)", "occurred_at"), DUCKDB)
    >>> "+ 19800000000" in c.sql  # IST offset in microseconds, no per-row time zone call
    True
    """
    return _Compiler(query, relation, dialect).compile()
