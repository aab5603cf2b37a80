"""chDB: the ClickHouse engine in-process, on a directory (``chdb:///path``).

The store logic is :class:`leadstats.store.clickhouse.ClickHouseBase`, shared with ClickHouse servers;
this module only adds the driver. chDB facts that shape it:

- one database directory per process: a second ``chdb://`` store on another path in the same process
  is refused with a clear message (close the first one), and a directory used by another process is
  locked (like DuckDB's one-writer rule);
- sessions on the same path share the engine, so one session serves reads and the single writer.
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc

from ..errors import StoreError
from .clickhouse import ClickHouseBase


def _locked_by_another_process(path: str) -> bool:
    """ClickHouse holds an exclusive flock on ``status`` while a server (or chDB) uses the directory."""
    try:
        import fcntl

        with open(os.path.join(path, "status"), "rb") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    except (OSError, ImportError):
        return False
    return False


def _store_error(path: str, exc: Exception) -> StoreError:
    text = str(exc).strip()
    locked = "Error initializing EmbeddedServer" in text and _locked_by_another_process(path)
    if locked or "Cannot lock file" in text or "Another server instance" in text:
        return StoreError(
            f"{path} is in use by another process (chDB allows one process per directory): stop it,"
            " or send events to its HTTP API instead"
        )
    if "already initialized with path" in text:
        return StoreError(
            f"cannot open chDB store {path}: this process already has another chDB directory open"
            " (chDB allows one directory per process); close that store first"
        )
    first = text.splitlines()[0] if text else type(exc).__name__
    return StoreError(f"chDB ({path}): {first[:500]}")


# One writer per chDB directory and database in this process, however many store objects open it.
_WRITE_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()

_PARAM_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


def _escape_param(value: Any) -> Any:
    """ClickHouse parses a ``{name:String}`` value with escape sequences (as clickhouse-connect
    escapes them over HTTP): a backslash or a tab must be escaped to arrive as itself."""
    return value.translate(_PARAM_ESCAPES) if isinstance(value, str) else value


class ChDBDriver:
    """A chDB session; rows come back as JSONCompact, scans as Arrow, inserts go in as ArrowStream."""

    def __init__(self, path: str) -> None:
        try:
            from chdb import session
        except ImportError as exc:  # pragma: no cover - depends on the extra
            raise StoreError(f"the chdb backend needs an extra: pip install 'leadstats[clickhouse]' ({exc})") from None
        self.path = path
        if path != ":memory:":
            os.makedirs(path, exist_ok=True)
        try:
            self._session: Any = session.Session(path)
            # rows() reads JSONCompact: keep 64-bit numbers as JSON numbers whatever the engine default.
            self._session.query("SET output_format_json_quote_64bit_integers = 0")
        except Exception as exc:  # noqa: BLE001 - chDB raises RuntimeError/ChdbError
            raise _store_error(path, exc) from None

    def _query(self, sql: str, fmt: str, params: Mapping[str, Any] | None) -> Any:
        if self._session is None:
            raise StoreError(f"the chDB store {self.path} is closed")
        bound = {k: _escape_param(v) for k, v in params.items()} if params else None
        try:
            return self._session.query(sql, fmt, params=bound)
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise _store_error(self.path, exc) from None

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        result = self._query(sql, "JSONCompact", params)
        text = result.bytes() if hasattr(result, "bytes") else result
        if not text:
            return []
        doc = json.loads(text)
        return [tuple(r) for r in doc.get("data", [])]

    def arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        result = self._query(sql, "Arrow", params)
        data = result.bytes() if hasattr(result, "bytes") else result
        if not data:
            return pa.table({})
        return ipc.open_file(pa.BufferReader(data)).read_all()

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._query(sql, "CSV", params)

    def insert(self, table: str, data: pa.Table) -> None:
        if self._session is None:
            raise StoreError(f"the chDB store {self.path} is closed")
        sink = io.BytesIO()
        with ipc.new_stream(sink, data.schema) as writer:
            writer.write_table(data)
        cols = ", ".join(data.column_names)
        try:
            inserter = self._session.send_insert(f"INSERT INTO {table} ({cols})", "ArrowStream")
            try:
                inserter.append(sink.getvalue())
                inserter.finish()
            except BaseException:
                inserter.cancel()
                raise
        except Exception as exc:  # noqa: BLE001
            raise _store_error(self.path, exc) from None

    def stream(self, sql: str, params: Mapping[str, Any] | None = None) -> Iterator[pa.RecordBatch]:
        if self._session is None:
            raise StoreError(f"the chDB store {self.path} is closed")
        bound = {k: _escape_param(v) for k, v in params.items()} if params else None
        try:
            result = self._session.send_query(sql, "Arrow", params=bound)
        except Exception as exc:  # noqa: BLE001
            raise _store_error(self.path, exc) from None
        try:
            yield from result.record_batch(rows_per_batch=65_536)
        except Exception as exc:  # noqa: BLE001
            raise _store_error(self.path, exc) from None
        finally:
            result.close()  # also when the consumer stops early (an interrupted migrate)

    def close(self) -> None:
        if self._session is not None:
            try:
                self._session.close()
            finally:
                self._session = None


class ChDBStore(ClickHouseBase):
    """``chdb:///path``: a ClickHouse MergeTree store in a local directory, no server.

    ``database`` keeps several stores apart in one directory (chDB opens one directory per process).

    >>> import tempfile, leadstats
    >>> with tempfile.TemporaryDirectory() as d:
    ...     ls = leadstats.connect(f"chdb://{d}/store")
    ...     ls.ingest([{"event_id": "e1", "event_type": "primary", "occurred_at": "2026-03-07T05:00:00Z"}]).accepted
    ...     ls.report("2026-03-07", "2026-03-08", bucket="1d").totals["primary"]
    ...     ls.close()
    1
    1
    """

    backend = "chdb"
    exclusive = True  # one process per directory: the derived tables are checked when the store opens

    def __init__(self, path: str, *, read_only: bool = False, database: str | None = None) -> None:
        driver = ChDBDriver(path)
        key = (os.path.realpath(path) if path != ":memory:" else path, database or "")
        with _LOCKS_GUARD:
            lock = _WRITE_LOCKS.setdefault(key, threading.Lock())
        try:
            super().__init__(
                driver, location=path, stage_table="leadstats_stage", read_only=read_only, database=database,
                write_lock=lock,
            )
        except BaseException:
            driver.close()
            raise
