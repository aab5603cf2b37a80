"""Turning an ingest request body into one JSON text per event, before validation.

A body is either a JSON array of event objects (``application/json``, the default) or JSON Lines
(``application/x-ndjson``: one object per non-empty line); any other Content-Type is a 415. The array
is split by DuckDB's JSON reader (C++, releases the GIL: about 5x faster than ``json.loads`` +
``json.dumps`` per element), so the event loop stays free while a 5 MiB body is cut up. Each element's
text then goes through the one validator (``leadstats.ingest.validate``), which rejects non-object
elements one by one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import pyarrow as pa

from ..errors import InputError, TooLarge

NDJSON_TYPES: frozenset[str] = frozenset(
    {
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/x-jsonl",
        "application/jsonlines",
        "application/x-jsonlines",
        "application/json-lines",
    }
)

_SPLIT_SQL = """
SELECT json_type(j) AS kind,
       CASE WHEN json_type(j) = 'ARRAY'
            THEN list_transform(CAST(j AS JSON[]), lambda x: coalesce(CAST(x AS VARCHAR), 'null')) END AS items
FROM (SELECT CAST($1 AS JSON) AS j)"""
_VALID_SQL = "SELECT count(*) FILTER (WHERE json_valid(line)) FROM (SELECT unnest($1::VARCHAR[]) AS line)"

_KINDS = {"OBJECT": "an object", "VARCHAR": "a string", "NULL": "null", "BOOLEAN": "a boolean"}


class _Connections:
    """A few cursors on one in-memory DuckDB, lent to one caller at a time.

    Not thread-locals: the server's worker threads are daemons, and a DuckDB connection destroyed by a
    daemon thread while the interpreter shuts down aborts the process. These stay owned by this module.
    """

    def __init__(self, keep: int = 8) -> None:
        self._base: duckdb.DuckDBPyConnection | None = None
        self._idle: list[duckdb.DuckDBPyConnection] = []
        self._lock = threading.Lock()
        self._keep = keep

    @contextmanager
    def borrow(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock:
            if self._base is None:
                self._base = duckdb.connect(":memory:")
                self._base.execute("SET threads = 1")  # bodies are small; leave the cores to the store
            con = self._idle.pop() if self._idle else self._base.cursor()
        try:
            yield con
        finally:
            with self._lock:
                kept = len(self._idle) < self._keep
                if kept:
                    self._idle.append(con)
            if not kept:
                con.close()


_connections = _Connections()


class UnsupportedMediaType(InputError):
    """An ingest body sent as something other than JSON or JSON Lines (415)."""

    code = "unsupported_media_type"
    http_status = 415


def is_ndjson(content_type: str | None) -> bool:
    """True for the JSON Lines media types (``application/x-ndjson`` and friends), False for
    ``application/json`` or no Content-Type; any other type (``text/plain``, form posts: what a
    cross-site page can send without CORS) is refused with 415.

    >>> is_ndjson("application/x-ndjson; charset=utf-8"), is_ndjson("application/json"), is_ndjson(None)
    (True, False, False)
    """
    if not content_type:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind in NDJSON_TYPES:
        return True
    if kind == "application/json":
        return False
    raise UnsupportedMediaType(
        f"Content-Type {kind or content_type!r} is not accepted: send application/json or application/x-ndjson",
        field="content-type",
    )


def _json_error(text: str) -> str:
    """Where the body stops being JSON, from Python's parser (names a position, never the content)."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    except (RecursionError, ValueError):
        return "nested too deeply or not JSON"
    return "an escape or value JSON parsers disagree on, such as an unpaired \\uD800 surrogate"


def _decode(body: bytes) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"request body is not UTF-8 (bad byte at offset {exc.start})", field="body") from None
    return text.lstrip("\ufeff")


def split_events(body: bytes, *, ndjson: bool, max_events: int) -> pa.StringArray:
    """One JSON text per event; raises InputError (400) for a body that is not JSON at all and
    TooLarge (413) for more than ``max_events`` events.

    >>> split_events(b'[{"event_id": "a"}, 7]', ndjson=False, max_events=10).to_pylist()
    ['{"event_id":"a"}', '7']
    >>> split_events(b'{"event_id": "a"}\\n\\n{"event_id": "b"}\\n', ndjson=True, max_events=10).to_pylist()
    ['{"event_id": "a"}', '{"event_id": "b"}']
    """
    text = _decode(body)
    if not text.strip():
        raise InputError("request body is empty: send a JSON array of events or JSON Lines", field="body")
    if ndjson:
        lines = [s for s in (line.strip() for line in text.split("\n")) if s]
        if len(lines) > max_events:
            raise TooLarge(f"{len(lines)} events in one request; the limit is {max_events}", field="body")
        with _connections.borrow() as con:
            rows = con.sql(_VALID_SQL, params=[lines]).fetchall()
        if not rows or not rows[0][0]:
            raise InputError(
                "request body is not JSON Lines: no line is a JSON value (send one event object per line)",
                field="body",
            )
        return pa.array(lines, pa.string())
    try:
        with _connections.borrow() as con:
            table = con.sql(_SPLIT_SQL, params=[text]).to_arrow_table()
    except duckdb.Error:
        raise InputError(f"request body is not valid JSON: {_json_error(text)}", field="body") from None
    kind = table.column("kind")[0].as_py()
    if kind != "ARRAY":
        hint = " (for JSON Lines send Content-Type: application/x-ndjson)" if kind == "OBJECT" else ""
        got = _KINDS.get(str(kind), "a number")
        raise InputError(f"request body must be a JSON array of events, got {got}{hint}", field="body")
    items = table.column("items").combine_chunks()
    events = items.flatten() if isinstance(items, pa.ListArray) else pa.array([], pa.string())
    if len(events) > max_events:
        raise TooLarge(f"{len(events)} events in one request; the limit is {max_events}", field="body")
    return events.cast(pa.string())
