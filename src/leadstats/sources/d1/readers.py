"""Where D1 rows come from: a SQLite file, a ``wrangler d1 export`` dump, or the D1 REST API.

Every source answers the same two questions, so the importer (``d1.py``) has one code path:
``table_columns(table)`` (what columns a table has, None if it has no such table) and ``page(sql, params)``
(run one SELECT of two columns ``k`` = primary key and ``j`` = a JSON array built by SQLite's
``json_array``, and give back the ``j`` texts as one Arrow string array plus the last key). Building the
JSON array inside SQLite (locally, or inside D1 for the REST API) means one Python string per page instead
of one per value, which is what makes a million-row file import in seconds.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from ...errors import InputError
from ..files import split_lines
from ..mapping import D1_TABLES, D1Mapping

SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db", ".db3")
DUMP_SUFFIXES = (".sql",)


@dataclass
class Page:
    """One page of rows: JSON-array texts, how many, and the largest primary key among them."""

    lines: pa.Array
    count: int
    last_key: Any


class D1Source(Protocol):
    label: str
    page_size: int
    id_page_size: int

    def table_columns(self, table: str) -> list[str] | None:
        """Column names of ``table`` in order, or None when the database has no such table."""

    def page(self, sql: str, params: Sequence[Any]) -> Page:
        """Run ``sql`` (selecting ``k`` and ``j``, ordered by ``k``) and return its rows as a page."""

    def close(self) -> None: ...


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


class SQLiteSource:
    """A SQLite database file (e.g. ``wrangler dev``'s local D1 file), opened read-only."""

    page_size = 100_000
    id_page_size = 1_000_000_000  # local: one pass for the LeadIds that have a primary submission

    def __init__(self, path: str | None = None, *, connection: sqlite3.Connection | None = None,
                 label: str | None = None) -> None:
        if connection is None:
            if path is None:
                raise ValueError("path or connection")
            if not os.path.exists(path):
                raise InputError(f"{path}: no such file")
            uri = "file:" + os.path.abspath(path).replace("?", "%3f").replace("#", "%23") + "?mode=ro"
            try:
                connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
                connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.DatabaseError as exc:
                raise InputError(f"{path}: not a SQLite database ({exc})") from None
        connection.text_factory = _decode
        self._con = connection
        self.label = label or path or "sqlite"

    def table_columns(self, table: str) -> list[str] | None:
        rows = self._con.execute("SELECT name FROM pragma_table_info(?)", (table,)).fetchall()
        return [str(r[0]) for r in rows] or None

    def page(self, sql: str, params: Sequence[Any]) -> Page:
        wrapped = f"SELECT group_concat(j, char(10)), count(*), max(k) FROM ({sql})"
        try:
            text, count, last = self._con.execute(wrapped, list(params)).fetchone()
        except sqlite3.Error as exc:
            raise InputError(f"{self.label}: cannot read: {exc}") from None
        if not count:
            return Page(pa.array([], pa.string()), 0, None)
        return Page(split_lines(text.encode("utf-8") + b"\n")[0], int(count), last)

    def close(self) -> None:
        self._con.close()


def open_source(spec: str, mapping: D1Mapping | None = None, *, page_size: int | None = None) -> D1Source:
    """A source from what the user typed: ``d1://ACCOUNT/DATABASE``, a ``.sql`` dump or a SQLite file."""
    mapping = mapping or D1Mapping()
    source: D1Source
    if spec.startswith("d1://"):
        from .rest import RestSource

        source = RestSource.from_url(spec)
    elif spec.lower().endswith(DUMP_SUFFIXES):
        from .dump import load_dump

        keep = {mapping.table(t): mapping.column(t, cols[0]) for t, cols in D1_TABLES.items()}
        source = SQLiteSource(connection=load_dump(spec, keep), label=spec)
    elif spec.lower().endswith(SQLITE_SUFFIXES):
        source = SQLiteSource(spec)
    else:
        raise InputError(
            f"{spec}: unknown D1 source: give a SQLite file (.sqlite, .sqlite3, .db), a wrangler dump (.sql)"
            " or d1://ACCOUNT_ID/DATABASE_ID"
        )
    if page_size:
        source.page_size = page_size
    return source
