"""Filter operators as data (the Datasette ``filters.py`` habit), and filter parsing for every front end.

Each :class:`FilterOperator` has its JSON name (``is``), its CLI/URL symbol (``=``), its words and its
SQL builder. The builder receives a :class:`FilterTarget` that the compiler fills in for one dialect
(the dimension's SQL, the bound values, the null tests, the dialect's case-insensitive substring
test), so the operator's logic is written once and the dialect's spelling stays in
:mod:`leadstats.query.dialect`.

Parsing is here too, so the CLI, HTTP (GET and POST), MCP and Python refuse the same things with the
same words: unknown operators and dimensions, ``vpn`` (the dimension is ``vpn_suspected``), values
that are not of the dimension's type, enum values outside their choices, unterminated quotes.

>>> parse_filter_expr('project="Alpha, Phase 2",Skyline').to_json()
['is', 'project', ['Alpha, Phase 2', 'Skyline']]
>>> parse_filter_expr("utm_campaign=,brand").to_json()   # an empty value is null
['is', 'utm_campaign', [None, 'brand']]
>>> parse_filter_expr("utm_campaign!=").describe()
'utm_campaign is none of null'
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import QueryError
from .country import country_code
from .dimensions import DIMENSIONS, check_dimension_name
from .vocabulary import ENGAGEMENT_LABELS, EVENT_TYPES, FALSE_WORDS, TRUE_WORDS

FilterOp = Literal["is", "is_not", "contains"]
Value = str | int | float | bool | None


@dataclass(frozen=True)
class FilterTarget:
    """What an operator's SQL builder needs, spelled for one dialect by the compiler."""

    expr: str  # the dimension's SQL expression
    values: tuple[str, ...]  # the non-null values, as bound parameters (or escaped literals)
    has_null: bool  # null is one of the values
    is_null: str  # SQL true when the dimension is null
    not_null: str  # SQL true when it is not
    contains: Callable[[str], str]  # the dialect's case-insensitive "contains this bound value"

    @property
    def listed(self) -> str:
        return f"{self.expr} IN ({', '.join(self.values)})"


def _is_sql(t: FilterTarget) -> str:
    parts = ([t.listed] if t.values else []) + ([t.is_null] if t.has_null else [])
    return "(" + " OR ".join(parts) + ")"


def _is_not_sql(t: FilterTarget) -> str:
    # "is none of" keeps rows whose value is null unless null itself is listed.
    if t.has_null:
        return "(" + " AND ".join([t.not_null, *([f"NOT ({t.listed})"] if t.values else [])]) + ")"
    return f"({t.is_null} OR NOT ({t.listed}))"


def _contains_sql(t: FilterTarget) -> str:
    return "(" + " OR ".join(t.contains(v) for v in t.values) + ")"


@dataclass(frozen=True)
class FilterOperator:
    name: str
    symbol: str  # CLI / URL spelling: DIM<symbol>V1,V2
    words: str
    sql: Callable[[FilterTarget], str]
    text_only: bool = False  # only on string dimensions, only text values (no null)


OPERATORS: tuple[FilterOperator, ...] = (
    FilterOperator("is", "=", "is one of", _is_sql),
    FilterOperator("is_not", "!=", "is none of", _is_not_sql),
    FilterOperator("contains", "~=", "contains one of", _contains_sql, text_only=True),
)
OPERATOR_BY_NAME: dict[str, FilterOperator] = {o.name: o for o in OPERATORS}
FILTER_OPS: tuple[str, ...] = tuple(OPERATOR_BY_NAME)


def describe_operators() -> list[dict[str, Any]]:
    """The operators as the schema document lists them."""
    return [
        {"name": o.name, "symbol": o.symbol, "description": o.words, "text_only": o.text_only} for o in OPERATORS
    ]


@dataclass(frozen=True)
class Filter:
    op: FilterOp
    dimension: str
    values: tuple[Value, ...]

    @property
    def operator(self) -> FilterOperator:
        return OPERATOR_BY_NAME[self.op]

    def to_json(self) -> list[Any]:
        return [self.op, self.dimension, list(self.values)]

    def describe(self) -> str:
        shown = ", ".join("null" if v is None else str(v) for v in self.values)
        return f"{self.dimension} {self.operator.words} {shown}"


# -- values ------------------------------------------------------------------------------------------
def _bad(dimension: str, value: Any, what: str) -> QueryError:
    return QueryError(f"filter on {dimension}: {value!r} is not {what}", field="filters")


def _as_bool(dimension: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise _bad(dimension, value, "true or false")


def _as_number(dimension: str, value: Any, whole: bool) -> int | float:
    if isinstance(value, bool):
        raise _bad(dimension, value, "a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _bad(dimension, value, "a number") from None
    if not math.isfinite(number):
        raise _bad(dimension, value, "a number")
    if whole:
        if number != int(number):
            raise _bad(dimension, value, "a whole number")
        return int(number)
    return number


def _as_choice(dimension: str, value: str, spelled: str, choices: tuple[str, ...]) -> str:
    canonical = {c.lower(): c for c in choices}
    found = canonical.get(spelled)
    if found is None:
        raise QueryError(
            f"filter on {dimension}: unknown value {value!r}: use one of {', '.join(choices)}", field="filters"
        )
    return found


def coerce_value(dimension: str, value: Any, op: str) -> Value:
    """Filter values arrive as text from the CLI and URLs; give them the dimension's type and the
    spelling the store uses (``India`` -> ``IN``, ``very hot`` -> ``Very Hot``, ``Follow-Up`` -> ``follow_up``)."""
    kind = DIMENSIONS[dimension].kind
    if value is None:
        return None
    if kind == "bool":
        return _as_bool(dimension, value)
    if kind in ("int", "number"):
        return _as_number(dimension, value, kind == "int")
    if isinstance(value, (dict, list)):
        raise QueryError(f"filter on {dimension}: values must be scalars", field="filters")
    text = str(value)
    if op == "contains":
        return text
    if dimension == "event_type":
        return _as_choice(dimension, text, text.strip().lower().replace("-", "_").replace(" ", "_"), EVENT_TYPES)
    if dimension == "engagement_label":
        return _as_choice(dimension, text, " ".join(text.replace("_", " ").lower().split()), ENGAGEMENT_LABELS)
    if dimension == "country":
        return country_code(text) or text
    return text.strip()


def make_filter(op: str, dimension: str, values: Any) -> Filter:
    operator = OPERATOR_BY_NAME.get(op) if isinstance(op, str) else None
    if operator is None:
        names = ", ".join(f"{o.name} ({o.symbol})" for o in OPERATORS)
        raise QueryError(f"unknown filter operator {op!r}: use {names}", field="filters")
    check_dimension_name(dimension, "filters", what="filter dimension")
    if not isinstance(values, (list, tuple)):
        values = [values]
    if not values:
        raise QueryError(f"filter on {dimension} has no values", field="filters")
    coerced = tuple(coerce_value(dimension, v, op) for v in values)
    if operator.text_only and any(v is None or not isinstance(v, str) for v in coerced):
        raise QueryError(f"{op} on {dimension} takes text values", field="filters")
    if operator.text_only and DIMENSIONS[dimension].kind != "string":
        raise QueryError(f"{op} works on text dimensions, not {dimension}", field="filters")
    return Filter(operator.name, dimension, coerced)  # type: ignore[arg-type]


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
            ops = "|".join(f'"{o}"' for o in FILTER_OPS)
            raise QueryError(f"bad filter {item!r}: expected [{ops}, dimension, [values]]", field="filters")
    return tuple(out)


def _split_expr(expr: str) -> tuple[FilterOperator, str, str]:
    idx = expr.find("=")
    if idx > 0:
        for operator in sorted(OPERATORS, key=lambda o: -len(o.symbol)):
            start = idx + 1 - len(operator.symbol)
            if start > 0 and expr[start : idx + 1] == operator.symbol:
                return operator, expr[:start], expr[idx + 1 :]
    forms = " or ".join(f"DIM{o.symbol}V" for o in OPERATORS)
    raise QueryError(f"bad filter {expr!r}: expected {forms}", field="filters")


def parse_filter_expr(expr: str) -> Filter:
    """CLI / URL form: ``DIM=V1,V2`` (is one of), ``DIM!=V`` (is none of), ``DIM~=V`` (contains).

    Values are CSV, so a value with a comma is quoted: ``project="Alpha, Phase 2",Skyline``; an
    unterminated quote is an error. An empty value is null: ``utm_campaign=`` (no campaign),
    ``utm_campaign=,brand`` (none or brand), ``utm_campaign!=`` (has a campaign).
    """
    operator, dim, raw = _split_expr(expr)
    try:
        rows = list(csv.reader([raw], strict=True))
    except csv.Error as exc:
        reason = "unterminated quote" if "end of data" in str(exc) else str(exc)
        hint = 'quote a value with a comma: "a, b"'
        raise QueryError(f"bad filter {expr!r}: {reason} ({hint})", field="filters") from None
    values: list[Any] = (rows[0] if rows else []) or [""]
    return make_filter(operator.name, dim.strip(), [None if v == "" else v for v in values])
