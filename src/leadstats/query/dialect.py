"""SQL dialect differences as one small table (the sqlglot habit), not as copied queries."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Dialect:
    """How one engine spells the few things the report compiler needs.

    Templates use ``str.format`` fields. ``param`` renders a bound parameter placeholder; a dialect
    without bound parameters (Analytics Engine) sets ``inline_params`` and gets escaped literals.
    """

    name: str
    epoch_us: str = "epoch_us({col})"
    int_div: str = "({a}) // ({b})"
    count_if: str = "count_if({cond})"
    sum_if: str = "sum({value}) FILTER (WHERE {cond})"
    total: str = "sum({value})"
    greatest: str = "greatest({a}, {b})"
    month_first_day: str = "({d}) - dayofmonth(DATE '1970-01-01' + CAST(({d}) AS INTEGER)) + 1"
    contains: str = "contains(lower({col}), lower({value}))"
    timestamp_param: str = "CAST({p} AS TIMESTAMP)"
    param_style: str = "numbered"  # numbered: $1, positional list | named: {name:Type}
    inline_params: bool = False
    quote: str = '"'

    def ident(self, name: str) -> str:
        return f"{self.quote}{name}{self.quote}"

    def literal(self, value: Any) -> str:
        """An escaped SQL literal, for dialects without bound parameters."""
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, (int, float)):
            return repr(value)
        text = str(value).replace("\\", "\\\\").replace("'", "\\'")
        return f"'{text}'"

    def with_(self, **changes: Any) -> Dialect:
        return replace(self, **changes)


DUCKDB = Dialect("duckdb")

CLICKHOUSE = Dialect(
    "clickhouse",
    epoch_us="toUnixTimestamp64Micro({col})",
    int_div="intDiv({a}, {b})",
    count_if="countIf({cond})",
    sum_if="sumIf({value}, {cond})",
    greatest="greatest({a}, {b})",
    month_first_day="toRelativeDayNum(toStartOfMonth(toDate(toInt32({d}))))",
    contains="positionCaseInsensitiveUTF8({col}, {value}) > 0",
    timestamp_param="{p}",
    param_style="named",
    quote="`",
)

DIALECTS: dict[str, Dialect] = {d.name: d for d in (DUCKDB, CLICKHOUSE)}
