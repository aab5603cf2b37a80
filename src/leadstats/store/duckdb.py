"""The embedded default: one DuckDB file, one writer, MVCC readers.

Layout (see docs/storage.md):
- ``events``: one row per event, UTC ``occurred_at``, ENUM types for ``event_type`` and
  ``engagement_label``, a 64-bit ``id_hash`` of ``event_id`` for cheap duplicate checks, and ``weight``
  (how many events the row stands for: 1, or an Analytics Engine ``_sample_interval``). Batches are
  inserted in time order, so DuckDB's per-row-group min/max prune a report's window.
- ``rollup_15m``: per 15-minute UTC slot and primary suspicion score, the metric sums. Every real UTC
  offset is a multiple of 15 minutes, so these slots compose exactly into any bucket of 15 minutes or
  more in any zone; time-only reports read a few thousand rows instead of millions. It is written in
  the same transaction as the events, so it is never out of step.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import StoreError
from ..model.report import ReportQuery
from ..model.schema import ENGAGEMENT_LABELS, EVENT_COLUMNS, EVENT_TYPES, METRIC_NAMES
from ..model.timegrid import US
from ..query.compiler import Relation, compile_report, metric_conditions
from ..query.dialect import DUCKDB
from .base import AppendResult, GroupRows

SLOT_US = 900 * US
_NO_SCORE = "'-inf'::DOUBLE"


def _enum(values: tuple[str, ...]) -> str:
    return ", ".join("'" + v + "'" for v in values)


MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "events table and 15-minute rollup",
        [
            f"CREATE TYPE event_type_t AS ENUM ({_enum(EVENT_TYPES)})",
            f"CREATE TYPE engagement_t AS ENUM ({_enum(ENGAGEMENT_LABELS)})",
            """CREATE TABLE events (
                event_id VARCHAR NOT NULL,
                id_hash UBIGINT NOT NULL,
                occurred_at TIMESTAMP NOT NULL,
                event_type event_type_t NOT NULL,
                project VARCHAR, source VARCHAR, referer VARCHAR, cta VARCHAR,
                utm_source VARCHAR, utm_medium VARCHAR, utm_campaign VARCHAR, utm_term VARCHAR,
                utm_content VARCHAR,
                engagement_label engagement_t,
                vpn BOOLEAN,
                suspicion_score DOUBLE,
                country VARCHAR, region VARCHAR, city VARCHAR, phone_country_code VARCHAR,
                lead_id VARCHAR)""",
            f"""CREATE TABLE rollup_15m (
                slot INTEGER NOT NULL,
                suspicion DOUBLE NOT NULL,
                {", ".join(f'"{m}" BIGINT NOT NULL' for m in METRIC_NAMES if m != "suspicious")},
                PRIMARY KEY (slot, suspicion))""",
        ],
    ),
    (
        2,
        "weight column for sampled sources (Analytics Engine _sample_interval)",
        ["ALTER TABLE events ADD COLUMN weight INTEGER DEFAULT 1"],
    ),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]

_EVENTS_REL = Relation("events", "epoch_us(occurred_at)", "occurred_at")
_ROLLUP_REL = Relation(
    "rollup_15m",
    f"CAST(slot AS BIGINT) * {SLOT_US}",
    "slot",
    window_value=lambda us: us // SLOT_US,
    window_type="Int64",
    rollup=True,
)


def _time_ordered(batch: pa.Table) -> pa.Table:
    """The batch sorted by ``occurred_at`` (Arrow's sort is parallel); most batches already are."""
    ts = batch.column("occurred_at")
    if batch.num_rows < 2 or pc.all(pc.less_equal(ts[:-1], ts[1:])).as_py():
        return batch
    return batch.sort_by("occurred_at")


def _close_quietly(con: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):
        con.close()


#: Called while another process holds the store: ``(message)``; it may raise to stop waiting.
LockWaiting = Callable[[str], None]
LOCK_POLL_S = 0.2


def lock_path(path: str) -> str:
    return os.path.abspath(path) + ".lock"


def _holder(fd: int) -> str:
    """Who holds the lock, from what the writer wrote into the lock file ("pid N: command")."""
    try:
        text = os.pread(fd, 512, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    pid_text, _, command = text.partition(" ")
    if pid_text.isdigit():
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            return "another leadstats process"
        except PermissionError:
            pass
        return f"pid {pid_text}: {command}" if command else f"pid {pid_text}"
    return "another leadstats process (reading)"


def _print_waiting(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class StoreLock:
    """Who may open a DuckDB file: ``<store>.lock`` under ``fcntl.flock``, held while the store is open.

    Writers take it exclusively and *wait as long as another writer (or reader) holds it*, saying so
    once on stderr ("waiting for another leadstats process writing ..."): two imports into one store
    both finish, one after the other. Read-only opens take it shared (many at once, like DuckDB's
    read-only opens) and wait for a writer the same way. ``wait_s`` bounds the wait when given: then
    the open fails with one line naming the holder. ``waiting`` is called with the
    message on every poll while blocked (the service prints it once and notices a ``leadstats serve``
    that appeared meanwhile, to switch to it); it may raise to stop waiting. Opens of the same file
    within one process share one lock (DuckDB shares one database instance per file and process too).
    """

    _held: dict[str, list[Any]] = {}  # abspath -> [fd, users, exclusive]
    _guard = threading.Lock()

    def __init__(
        self, path: str, *, exclusive: bool, waiting: LockWaiting | None = None, wait_s: float | None = None
    ) -> None:
        self.path = lock_path(path)
        with StoreLock._guard:
            held = StoreLock._held.get(self.path)
            if held is not None:
                held[1] += 1
                self.fd = held[0]
                return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except PermissionError:  # another user's lock file: flock works on a read-only descriptor too
            fd = os.open(self.path, os.O_RDONLY)
        try:
            self._acquire(fd, path, exclusive, waiting or _default_waiting(path), wait_s)
        except BaseException:
            os.close(fd)
            raise
        if exclusive:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()} {_command_line()}".encode("utf-8", "replace"), 0)
        with StoreLock._guard:
            StoreLock._held[self.path] = [fd, 1, exclusive]
        self.fd = fd

    def _acquire(self, fd: int, path: str, exclusive: bool, waiting: LockWaiting, wait_s: float | None) -> None:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        deadline = None if wait_s is None else time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                return
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise StoreError(f"cannot lock {self.path}: {exc.strerror}") from None
            holder = _holder(fd)
            waiting(f"waiting for another leadstats process writing {os.path.basename(path)} ({holder}) …")
            if deadline is not None and time.monotonic() >= deadline:
                raise StoreError(
                    f"{path} is in use by another process ({holder}): try again when it finishes, or run"
                    " `leadstats serve` on it so every command shares it (docs/deployment.md)"
                )
            time.sleep(LOCK_POLL_S)

    def release(self) -> None:
        with StoreLock._guard:
            held = StoreLock._held.get(self.path)
            if held is None:
                return
            held[1] -= 1
            if held[1] > 0:
                return
            del StoreLock._held[self.path]
        with contextlib.suppress(OSError):
            if held[2]:
                os.ftruncate(held[0], 0)  # the holder note names only a current writer
        with contextlib.suppress(OSError):
            os.close(held[0])


def _default_waiting(path: str) -> LockWaiting:
    """Say once that we wait; but a store held by a live ``leadstats serve`` is refused at once (a
    direct open would wait for the server's whole life; :func:`leadstats.connect` becomes its client)."""
    from ..discovery import live_server

    tell = _once(_print_waiting)

    def waiting(message: str) -> None:
        server = live_server(path)
        if server is not None:
            raise StoreError(
                f"{path} is held by {server.describe()}: this needs the file itself, stop the server first"
                " (or use a command that goes through it, docs/deployment.md)"
            )
        tell(message)

    return waiting


def _command_line() -> str:
    """This process's command for the lock file, without anything that may hold a secret (URLs)."""
    words = [os.path.basename(sys.argv[0]) if sys.argv else "python"]
    for arg in sys.argv[1:]:
        words.append(arg.split("://", 1)[0] + "://…" if "://" in arg else arg)
    return " ".join(words)[:300]


def _once(fn: LockWaiting) -> LockWaiting:
    told: list[str] = []

    def call(message: str) -> None:
        if not told:
            told.append(message)
            fn(message)

    return call


def _close_store(con: duckdb.DuckDBPyConnection, lock: StoreLock | None) -> None:
    _close_quietly(con)  # the file first, then the lock: the next process finds the file free
    if lock is not None:
        lock.release()


def _connect(path: str, read_only: bool, wait_s: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" not in text.lower():
                raise StoreError(f"cannot open {path}: {text}") from None
            if time.monotonic() >= deadline:
                raise StoreError(
                    f"{path} is in use by another process (DuckDB allows one writer per file): stop it,"
                    " or send events to its HTTP API instead"
                ) from None
            time.sleep(0.1)
        except duckdb.Error as exc:
            raise StoreError(f"cannot open {path}: {exc}") from None


class DuckDBStore:
    backend = "duckdb"

    def __init__(
        self,
        path: str,
        *,
        read_only: bool = False,
        lock_wait_s: float | None = None,
        waiting: LockWaiting | None = None,
    ) -> None:
        self.path = path
        self.read_only = read_only
        if read_only and path != ":memory:" and not os.path.exists(path):
            raise StoreError(f"no leadstats store at {path}: import events first (leadstats import events)")
        lock: StoreLock | None = None
        if path != ":memory:":
            parent = os.path.dirname(os.path.abspath(path))
            os.makedirs(parent, exist_ok=True)
            lock = StoreLock(path, exclusive=not read_only, waiting=waiting, wait_s=lock_wait_s)
        try:
            self._con = _connect(path, read_only, 10.0 if lock_wait_s is None else lock_wait_s)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        # A connection still open when the interpreter exits can abort it inside DuckDB: close it first.
        self._finalizer = weakref.finalize(self, _close_store, self._con, lock)
        self._con.execute("SET TimeZone = 'UTC'")
        self._con.execute("SET enable_progress_bar = false")
        self._write_lock = threading.Lock()
        self._local = threading.local()
        if not read_only:
            self._migrate()
            self._check_hashes()
        self._weighted = self.get_state("weighted") == "1"

    # -- schema ----------------------------------------------------------------------------------
    def _migrate(self) -> None:
        con = self._con
        con.execute(
            "CREATE TABLE IF NOT EXISTS leadstats_migrations "
            "(version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP DEFAULT current_timestamp)"
        )
        con.execute("CREATE TABLE IF NOT EXISTS leadstats_state (key VARCHAR PRIMARY KEY, value VARCHAR)")
        done = {row[0] for row in con.execute("SELECT version FROM leadstats_migrations").fetchall()}
        for version, name, statements in MIGRATIONS:
            if version in done:
                continue
            con.execute("BEGIN TRANSACTION")
            try:
                for sql in statements:
                    con.execute(sql)
                con.execute("INSERT INTO leadstats_migrations (version, name) VALUES (?, ?)", [version, name])
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise

    def schema_version(self) -> int:
        row = self._con.cursor().execute("SELECT max(version) FROM leadstats_migrations").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _check_hashes(self) -> None:
        """``id_hash`` uses DuckDB's hash(); re-derive it if a DuckDB upgrade changed that function."""
        tag = f"duckdb-{duckdb.__version__}"
        if self.get_state("id_hash") == tag:
            return
        bad = self._con.execute(
            "SELECT count(*) FROM (SELECT * FROM events LIMIT 1000) WHERE id_hash <> hash(event_id)"
        ).fetchone()
        if bad and bad[0]:
            self._con.execute("UPDATE events SET id_hash = hash(event_id)")
        self.set_state("id_hash", tag)

    # -- state -----------------------------------------------------------------------------------
    def get_state(self, key: str) -> str | None:
        try:
            row = self._cursor().execute("SELECT value FROM leadstats_state WHERE key = ?", [key]).fetchone()
        except duckdb.CatalogException:
            return None
        return None if row is None else str(row[0])

    def set_state(self, key: str, value: str) -> None:
        with self._write_lock:
            self._con.execute(
                "INSERT INTO leadstats_state VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )

    # -- writes ----------------------------------------------------------------------------------
    def append(self, batch: pa.Table) -> AppendResult:
        if self.read_only:
            raise StoreError("this store was opened read-only")
        if batch.num_rows == 0:
            return AppendResult(0, 0)
        with self._write_lock:
            con = self._con
            con.register("__batch", _time_ordered(batch))
            try:
                con.execute("BEGIN TRANSACTION")
                try:
                    result = self._append_locked(con, batch.num_rows)
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
            finally:
                con.unregister("__batch")
        return result

    def _append_locked(self, con: duckdb.DuckDBPyConnection, n: int) -> AppendResult:
        """Dedupe and insert ``__batch``. The common case (no id seen before, none repeated in the batch)
        inserts straight from the Arrow batch; only batches with candidates pay for an exact pass."""
        cols = ", ".join(f'"{c}"' for c in EVENT_COLUMNS)
        source = "__batch"
        # Two small statements: DuckDB plans them far faster than one that mixes both checks.
        check = con.execute("SELECT count(*) - count(DISTINCT event_id), max(weight) FROM __batch").fetchone()
        repeated, max_weight = check if check else (0, 1)
        hit = con.execute(
            "SELECT count(*) FROM __batch WHERE hash(event_id) IN (SELECT id_hash FROM events)"
        ).fetchone()
        seen = hit[0] if hit else 0
        if repeated or seen:
            source = "__new"
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE __new AS
                SELECT {cols}, weight FROM (SELECT *, row_number() OVER () AS __pos FROM __batch)
                QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY __pos) = 1"""
            )
            if seen:  # exact check, only against stored rows whose hash matches (retries, re-imports)
                con.execute(
                    """DELETE FROM __new WHERE event_id IN (
                         SELECT e.event_id FROM events e
                         WHERE e.id_hash IN (SELECT hash(event_id) FROM __new))"""
                )
            row = con.execute("SELECT count(*) FROM __new").fetchone()
            accepted = int(row[0]) if row else 0
            if not accepted:
                con.execute("DROP TABLE __new")
        else:
            accepted = n
        if accepted:
            rest = cols.replace('"event_id", ', "")
            con.execute(
                f"""INSERT INTO events (event_id, id_hash, {rest}, weight)
                SELECT event_id, hash(event_id), {rest}, CAST(weight AS INTEGER) FROM {source}
                {"ORDER BY occurred_at" if source == "__new" else ""}"""
            )
            self._update_rollup(con, source)
            if source == "__new":
                con.execute("DROP TABLE __new")
            if max_weight is not None and int(max_weight) != 1 and not self._weighted:
                con.execute(
                    "INSERT INTO leadstats_state VALUES ('weighted', '1') ON CONFLICT (key) DO UPDATE SET value = '1'"
                )
                self._weighted = True
        return AppendResult(accepted, n - accepted)

    @staticmethod
    def _update_rollup(con: duckdb.DuckDBPyConnection, source: str) -> None:
        conds = metric_conditions(lambda name: name, None)
        names = list(conds)
        sums = ", ".join(f"coalesce(sum(weight) FILTER (WHERE {conds[m] or 'true'}), 0)" for m in names)
        updates = ", ".join(f'"{m}" = rollup_15m."{m}" + excluded."{m}"' for m in names)
        con.execute(
            f"""INSERT INTO rollup_15m
            SELECT CAST(epoch_us(occurred_at) // {SLOT_US} AS INTEGER) AS slot,
                   CASE WHEN event_type = 'primary' AND suspicion_score IS NOT NULL
                        THEN suspicion_score ELSE {_NO_SCORE} END AS suspicion,
                   {sums}
            FROM {source} GROUP BY ALL
            ON CONFLICT (slot, suspicion) DO UPDATE SET {updates}"""
        )

    def optimize(self) -> None:
        """Rewrite ``events`` in time order so window pruning is perfect after out-of-order imports."""
        with self._write_lock:
            con = self._con
            con.execute("BEGIN TRANSACTION")
            try:
                # Copy out and back in (not CREATE TABLE AS) so the table keeps its types and constraints.
                con.execute("CREATE TEMP TABLE __events_sorted AS SELECT * FROM events ORDER BY occurred_at")
                con.execute("DELETE FROM events")
                con.execute("INSERT INTO events SELECT * FROM __events_sorted ORDER BY occurred_at")
                con.execute("DROP TABLE __events_sorted")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("CHECKPOINT")

    # -- reads -----------------------------------------------------------------------------------
    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._con.cursor()
            cur.execute("SET TimeZone = 'UTC'")
            self._local.cursor = cur
        return cur

    def _rollup_ok(self, query: ReportQuery) -> bool:
        grid = query.grid
        if query.filters or any(d not in ("hour_of_day", "weekday") for d in query.dimensions):
            return False
        if grid.start_us % SLOT_US or grid.end_us % SLOT_US:
            return False
        return all(s.offset_us % SLOT_US == 0 and (s.start_us or 0) % SLOT_US == 0 for s in grid.segments)

    def report_rows(self, query: ReportQuery) -> GroupRows:
        if self._rollup_ok(query):
            rel, engine = _ROLLUP_REL, "rollup"
        else:
            rel = _EVENTS_REL if not self._weighted else Relation(**{**_EVENTS_REL.__dict__, "weight": "weight"})
            engine = "events"
        compiled = compile_report(query, rel, DUCKDB)
        try:
            rows = self._cursor().execute(compiled.sql, compiled.params).fetchall()
        except duckdb.CatalogException as exc:
            raise StoreError(f"{self.path} is not a leadstats store: {exc}") from None
        return GroupRows(rows, engine)

    def stored_ids(self, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        rows = self._cursor().execute(
            """SELECT e.event_id FROM events e
               SEMI JOIN (SELECT hash(x) AS h FROM (SELECT unnest($1::VARCHAR[]) AS x)) n ON e.id_hash = n.h""",
            [ids],
        ).fetchall()
        return {r[0] for r in rows} & set(ids)

    def count(self) -> int:
        row = self._cursor().execute("SELECT coalesce(sum(weight), 0) FROM events").fetchone()
        return int(row[0]) if row else 0

    def health(self) -> dict[str, Any]:
        cur = self._cursor()
        counted = cur.execute("SELECT count(*), coalesce(sum(weight), 0) FROM events").fetchone()
        rows, events = counted if counted else (0, 0)
        size = os.path.getsize(self.path) if self.path != ":memory:" and os.path.exists(self.path) else 0
        return {
            "backend": self.backend,
            "path": self.path,
            "rows": int(rows),
            "events": int(events),
            "schema_version": self.schema_version(),
            "size_bytes": size,
        }

    def scan(self, batch_size: int = 100_000, after: str | None = None) -> Iterator[pa.Table]:
        cols = ", ".join(
            f'CAST("{c}" AS VARCHAR) AS "{c}"' if c in ("event_type", "engagement_label") else f'"{c}"'
            for c in EVENT_COLUMNS
        )
        where = "WHERE event_id > $1" if after is not None else ""
        sql = f"SELECT {cols}, CAST(weight AS BIGINT) AS weight FROM events {where} ORDER BY event_id"
        reader = self._con.cursor().execute(sql, [after] if after is not None else []).to_arrow_reader(batch_size)
        assert reader is not None
        for rb in reader:
            yield pa.Table.from_batches([rb])

    def execute(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Read-only SQL for tools and tests (never exposed over HTTP)."""
        return self._cursor().execute(sql, params or []).fetchall()

    def close(self) -> None:
        self._finalizer()
