"""SQL dialect differences as one small table (the sqlglot habit), not as copied queries.

Three engines read the same compiled report: DuckDB (the embedded default), ClickHouse (chDB and
servers) and Cloudflare Workers Analytics Engine, whose SQL API is a small ClickHouse subset with no
bound parameters, no subqueries, no JOIN and no WITH. Everything that differs between them is a field
here; the compiler never branches on a dialect's name.

Note on ClickHouse time functions: ``toStartOfInterval(t, INTERVAL n MINUTE, tz)`` counts minute
intervals from the Unix epoch, so its "hours" in Asia/Kolkata start at :30 local time; none of the
dialects below use it. Buckets are integer arithmetic on UTC microseconds with the zone's offsets per
constant-offset segment (see :mod:`leadstats.model.timegrid`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class SQLText(str):
    """Trusted SQL produced by leadstats itself (never user input): :meth:`Dialect.literal` passes it
    through unquoted. Used for window bounds such as ``toDateTime(1772303400)`` on Analytics Engine."""


@dataclass(frozen=True)
class Dialect:
    """How one engine spells the few things the report compiler needs.

    Templates use ``str.format`` fields. ``param_style`` says how a bound parameter is written; a
    dialect without bound parameters (Analytics Engine) sets ``inline_params`` and gets escaped
    literals. ``subqueries`` False makes the compiler inline the per-row time expressions instead of
    nesting SELECTs; ``group_by_alias`` groups by output aliases instead of positions.
    """

    name: str
    int_div: str = "({a}) // ({b})"
    # count_if, not count(*) FILTER: DuckDB evaluates each FILTER as its own selection pass, measured
    # 25-40% slower over millions of rows; the cast makes its 128-bit result (an Arrow decimal) a BIGINT.
    count_if: str = "CAST(count_if({cond}) AS BIGINT)"
    sum_if: str = "sum({value}) FILTER (WHERE {cond})"
    total: str = "sum({value})"
    month_first_day: str = "({d}) - dayofmonth(DATE '1970-01-01' + CAST(({d}) AS INTEGER)) + 1"
    contains: str = "contains(lower({col}), lower({value}))"
    timestamp_param: str = "CAST({p} AS TIMESTAMP)"
    param_style: str = "numbered"  # numbered: $1, positional list | named: {name:Type}
    inline_params: bool = False
    quote: str = '"'
    subqueries: bool = True
    group_by_alias: bool = False
    case_as_if: bool = False  # nested if(c, a, b) instead of CASE WHEN (Analytics Engine)

    def ident(self, name: str) -> str:
        return f"{self.quote}{name}{self.quote}"

    def literal(self, value: Any) -> str:
        """An escaped SQL literal, for dialects without bound parameters.

        The AE SQL reference's literals: strings in single quotes, ``true``/``false``, integers and
        doubles as written. A quote inside a string is doubled (standard SQL, which AE's ClickHouse
        reads too); a backslash is doubled, since ClickHouse reads it as an escape.

        >>> print(ANALYTICS_ENGINE.literal("O'Brien \\\\ Co"), ANALYTICS_ENGINE.literal(True))
        'O''Brien \\\\ Co' true
        """
        if isinstance(value, SQLText):
            return str(value)
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            return repr(value)
        text = str(value).replace("\\", "\\\\").replace("'", "''")
        # Control characters cannot end a literal, but keep the statement on one readable line.
        text = text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t").replace("\0", "\\0")
        return f"'{text}'"

    def case(self, arms: Sequence[tuple[str, str]], default: str) -> str:
        """``CASE WHEN c THEN v ... ELSE d END``, or nested ``if()`` where CASE is not available."""
        if self.case_as_if:
            out = default
            for cond, value in reversed(arms):
                out = f"if({cond}, {value}, {out})"
            return out
        whens = " ".join(f"WHEN {cond} THEN {value}" for cond, value in arms)
        return f"CASE {whens} ELSE {default} END"


DUCKDB = Dialect("duckdb")

CLICKHOUSE = Dialect(
    "clickhouse",
    int_div="intDiv({a}, {b})",
    count_if="countIf({cond})",
    sum_if="sumIf({value}, {cond})",
    # Day number -> day number of the 1st of its month. toDate32(Int) reads days since 1970-01-01 and covers
    # 1900..2299 (toStartOfMonth would return a Date, which ends in 2149).
    month_first_day="({d}) - toDayOfMonth(toDate32(toInt32({d}))) + 1",
    contains="positionCaseInsensitiveUTF8({col}, {value}) > 0",
    timestamp_param="{p}",
    param_style="named",
    quote="`",
)

#: Cloudflare Workers Analytics Engine SQL API. Only functions from its SQL reference are used: intDiv,
#: if, sum, toUInt32, toDateTime, toDayOfMonth, lower, lowerUTF8, position (its documented
#: ``position(needle IN haystack)`` form). Values are escaped literals; dimension names come from the
#: registry only.
ANALYTICS_ENGINE = Dialect(
    "analytics_engine",
    int_div="intDiv({a}, {b})",
    count_if="sum(if({cond}, 1, 0))",
    sum_if="sum(if({cond}, {value}, 0))",
    total="sum({value})",
    month_first_day="({d}) - toDayOfMonth(toDateTime(({d}) * 86400, 'UTC')) + 1",
    # An empty blob is null on Analytics Engine; null never contains anything. lowerUTF8, not lower
    # (ASCII only): 'MÜLLER' contains 'müller' as on DuckDB and ClickHouse.
    contains="({col} != '' AND position(lowerUTF8({value}) IN lowerUTF8({col})) > 0)",
    timestamp_param="{p}",
    param_style="inline",
    inline_params=True,
    quote="",
    subqueries=False,
    group_by_alias=True,
    case_as_if=True,
)

DIALECTS: dict[str, Dialect] = {d.name: d for d in (DUCKDB, CLICKHOUSE, ANALYTICS_ENGINE)}
