"""The embedded default: one DuckDB file, one writer, MVCC readers.

Layout (see docs/storage.md):
- ``events``: one row per event, UTC ``occurred_at``, ENUM types for ``event_type`` and
  ``engagement_label``, a 64-bit ``id_hash`` of ``event_id`` for cheap duplicate checks, and ``weight``
  (how many events the row stands for: 1, or an Analytics Engine ``_sample_interval``). Batches are
  inserted in time order, so DuckDB's per-row-group min/max prune a report's window.
- ``rollup_15m``: one row per 15-minute UTC slot with every metric's sum, ``suspicious`` counted at the
  default threshold (``DEFAULT_SUSPICIOUS_MIN``). Every real UTC offset is a multiple of 15 minutes, so
  these slots compose exactly into any bucket of 15 minutes or more in any zone; a time-only report over
  30 days reads 2,880 rows whatever the number of events.
- ``rollup_scores``: per slot and suspicion score, the primary events with that score: the exact
  histogram a time-only report with another ``suspicious_min`` reads instead of the default column.
  Both are written in the same transaction as the events, so they are never out of step.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import StorageFull, StoreError
from ..ingest.validate import chunked
from ..model.report import ReportQuery
from ..model.schema import DEFAULT_SUSPICIOUS_MIN, ENGAGEMENT_LABELS, EVENT_COLUMNS, EVENT_TYPES, METRIC_NAMES
from ..query.compiler import Relation, compile_report, metric_conditions
from ..query.dialect import DUCKDB
from ..query.rollup import SLOT_US, at_threshold, rollup_eligible
from .base import AppendResult, GroupRows, ReportLimits
from .durability import CommitLog, memory_text, watchdog
from .locks import LockWaiting, StoreLock

log = logging.getLogger("leadstats.store")
_T = TypeVar("_T")
# What DuckDB says when a write reached the disk and failed there; after a fatal error the database
# object is unusable until it is opened again.
_FATAL_TEXTS = ("database has been invalidated", "No space left on device", "Could not write file")
_NO_SPACE = "No space left on device"
_NO_SCORE = "'-inf'::DOUBLE"


# Migration 3 folds the old (slot, suspicion) rollup into one row per slot.
_LEGACY_SUMS = {
    m: f'sum("{m}")' if m != "suspicious"
    else f'coalesce(sum("primary") FILTER (WHERE suspicion >= {DEFAULT_SUSPICIOUS_MIN}), 0)'
    for m in METRIC_NAMES
}


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
    (
        3,
        "rollup keyed by slot only (default suspicious precomputed) plus an exact score histogram",
        [
            f"""CREATE TABLE rollup_slots (
                slot INTEGER PRIMARY KEY,
                {", ".join(f'"{m}" BIGINT NOT NULL' for m in METRIC_NAMES)})""",
            f"""INSERT INTO rollup_slots
                SELECT slot, {", ".join(_LEGACY_SUMS[m] for m in METRIC_NAMES)}
                FROM rollup_15m GROUP BY slot""",
            """CREATE TABLE rollup_scores (
                slot INTEGER NOT NULL, score DOUBLE NOT NULL, "primary" BIGINT NOT NULL,
                PRIMARY KEY (slot, score))""",
            f"""INSERT INTO rollup_scores SELECT slot, suspicion, "primary" FROM rollup_15m
                WHERE suspicion <> {_NO_SCORE} AND "primary" > 0""",
            "DROP TABLE rollup_15m",
            "ALTER TABLE rollup_slots RENAME TO rollup_15m",
        ],
    ),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]

# event_type is a NOT NULL ENUM of the five types: submissions and bot follow from the other counts.
_EVENTS_REL = Relation("events", "epoch_us(occurred_at)", "occurred_at", closed_types=True)
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
    if batch.num_rows >= 2 and not pc.all(pc.less_equal(ts[:-1], ts[1:])).as_py():
        batch = batch.sort_by("occurred_at")
    return chunked(batch)  # DuckDB scans an Arrow table one record batch per thread


def _close_quietly(con: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):
        con.close()




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


def _is_fatal(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.FatalException) or any(t in str(exc) for t in _FATAL_TEXTS)


def _guarded(write: bool) -> Callable[[Callable[..., _T]], Callable[..., _T]]:
    """Run a store method on a usable connection: reopen after a fatal error (a full disk invalidates
    DuckDB's database object), and turn disk errors into ``StorageFull``/``StoreError`` with the cause."""

    def wrap(fn: Callable[..., _T]) -> Callable[..., _T]:
        @functools.wraps(fn)
        def run(self: DuckDBStore, *args: Any, **kwargs: Any) -> _T:
            self._revive(write)
            try:
                return fn(self, *args, **kwargs)
            except duckdb.Error as exc:
                if not _is_fatal(exc):
                    raise
                raise self._failed(exc, write) from None

        return run

    return wrap


@dataclass
class _Txn:
    con: duckdb.DuckDBPyConnection
    events: int = 0  # what the transaction acknowledges, for <store>.seq



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
        self._store_lock = lock
        self._finalizer = weakref.finalize(self, _close_store, self._con, lock)
        self._setup(self._con)
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._generation = 0  # bumped when the connection is replaced; per-thread cursors follow it
        self._broken: str | None = None  # why the connection died (cleared by a reopen)
        self._write_error: str | None = None  # why the last write failed (cleared by a write that works)
        self._read_fallback = False  # serving reads from a read-only reopen while writes cannot run
        self._commits = CommitLog(path) if path != ":memory:" else None
        self._wal_loss: dict[str, Any] | None = None
        if not read_only:
            self._migrate()
            self._check_hashes()
        self._check_commit_log()
        self._weighted = self.get_state("weighted") == "1"

    @staticmethod
    def _setup(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")

    # -- failure and recovery --------------------------------------------------------------------
    def _failed(self, exc: BaseException, write: bool) -> StoreError:
        """Record a fatal disk error, drop the unusable connection, and say what happened."""
        text = str(exc)
        cause = _NO_SPACE if _NO_SPACE in text else text.splitlines()[-1][:300]
        log.error("store write failed; reopening on the next request", extra={"fields": {"path": self.path,
                                                                                          "cause": cause}})
        self._broken = cause
        if write:
            self._write_error = cause
        _close_quietly(self._con)
        if _NO_SPACE in text:
            return StorageFull(f"{self.path}: no space left on device; the request was not acknowledged: retry"
                               " when space is freed (events already stored are not counted twice)")
        return StoreError(f"{self.path}: the store failed ({cause}); it is reopened on the next request")

    def _revive(self, write: bool) -> None:
        """After a fatal error: reopen for writing (DuckDB replays its log, so every committed batch is
        back); if that cannot be done yet, serve reads from a read-only open and refuse writes."""
        if self._broken is None or (self._read_fallback and not write):
            return
        with self._write_lock:
            if self._broken is None or (self._read_fallback and not write):
                return
            _close_quietly(self._con)
            try:
                con = duckdb.connect(self.path)
            except duckdb.Error as exc:
                if write:
                    raise self._still_down(exc) from None
                try:
                    con = duckdb.connect(self.path, read_only=True)
                except duckdb.Error as again:
                    raise self._still_down(again) from None
                self._read_fallback = True
            else:
                self._broken, self._read_fallback = None, False
                log.warning("store reopened after a write failure", extra={"fields": {"path": self.path}})
            self._setup(con)
            self._con = con
            self._finalizer.detach()  # the old connection is closed; the store lock stays held
            self._finalizer = weakref.finalize(self, _close_store, con, self._store_lock)
            self._generation += 1

    def _still_down(self, exc: BaseException) -> StoreError:
        if _NO_SPACE in str(exc) or self._broken == _NO_SPACE:
            return StorageFull(f"{self.path}: no space left on device; retry when space is freed")
        return StoreError(f"{self.path}: the store cannot be reopened yet ({str(exc).splitlines()[-1][:200]})")

    def _check_commit_log(self) -> None:
        """Compare the store's commit counter with ``<store>.seq`` (see :class:`CommitLog`); a read-only
        open reports a loss too (``leadstats info``), a writable one also records it and resyncs the file."""
        if self._commits is None:
            return
        logged, events = self._commits.read()
        stored = int(self.get_state("commit_seq") or 0)
        if logged > stored:
            self._wal_loss = {"detected_at": datetime.now(UTC).isoformat(timespec="seconds"),
                              "lost_commits": logged - stored, "last_commit_events": events}
            log.error(
                "the store's write-ahead log lost acknowledged batches (a torn log tail after a crash)",
                extra={"fields": {"path": self.path, **self._wal_loss}},
            )
            if not self.read_only:
                self.set_state("wal_loss", json.dumps(self._wal_loss))
        if logged != stored and not self.read_only:
            self._commits.write(stored, 0)

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
    @_guarded(write=False)
    def get_state(self, key: str) -> str | None:
        try:
            row = self._cursor().execute("SELECT value FROM leadstats_state WHERE key = ?", [key]).fetchone()
        except duckdb.CatalogException:
            return None
        return None if row is None else str(row[0])

    @_guarded(write=True)
    def set_state(self, key: str, value: str) -> None:
        with self._write_lock:
            self._con.execute(
                "INSERT INTO leadstats_state VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )

    # -- writes ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _writing(self, tables: dict[str, pa.Table], *, counted: bool) -> Iterator[_Txn]:
        """One write transaction under the write lock, with ``tables`` registered by name. ``counted``:
        the transaction bumps the commit counter and ``<store>.seq`` follows it once committed (see
        :class:`CommitLog`). A failed log write may have ended the transaction already: the first error
        is the news, so a failing ROLLBACK is not raised over it."""
        if self.read_only:
            raise StoreError("this store was opened read-only")
        with self._write_lock:
            con = self._con
            txn = _Txn(con)
            for name, table in tables.items():
                con.register(name, table)
            try:
                con.execute("BEGIN TRANSACTION")
                try:
                    yield txn
                    seq = self._next_commit_seq(con) if counted else 0
                    con.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(duckdb.Error):
                        con.execute("ROLLBACK")
                    raise
            finally:
                for name in tables:
                    with contextlib.suppress(duckdb.Error):
                        con.unregister(name)
            if counted and self._commits is not None:
                self._commits.write(seq, txn.events)
            self._write_error = None

    @_guarded(write=True)
    def append(self, batch: pa.Table) -> AppendResult:
        if batch.num_rows == 0:
            return AppendResult(0, 0)
        with self._writing({"__batch": _time_ordered(batch)}, counted=True) as txn:
            result = self._append_locked(txn.con, batch)
            txn.events = result.accepted
        return result

    @staticmethod
    def _next_commit_seq(con: duckdb.DuckDBPyConnection) -> int:
        # A plain UPDATE (the row exists after the first commit) costs DuckDB half what the upsert does.
        row = con.execute(
            """UPDATE leadstats_state SET value = CAST(CAST(value AS BIGINT) + 1 AS VARCHAR)
               WHERE key = 'commit_seq' RETURNING value"""
        ).fetchone()
        if row is None:
            row = con.execute("INSERT INTO leadstats_state VALUES ('commit_seq', '1') RETURNING value").fetchone()
        return int(row[0]) if row else 0

    def _append_locked(self, con: duckdb.DuckDBPyConnection, batch: pa.Table) -> AppendResult:
        """Dedupe and insert ``__batch`` (``batch`` as registered). The common case (no id seen before,
        none repeated in the batch) inserts straight from the Arrow batch; only batches with candidates pay
        for an exact pass."""
        n = batch.num_rows
        cols = ", ".join(f'"{c}"' for c in EVENT_COLUMNS)
        source = "__batch"
        stored_ids: frozenset[str] = frozenset()
        # Candidates first: stored rows whose id_hash is one of the batch's (the hash table is built
        # from the batch, so the cost is one scan of the id_hash column, not a table the size of the store).
        hit = con.execute(
            "SELECT count(*) FROM events WHERE id_hash IN (SELECT hash(event_id) FROM __batch)"
        ).fetchone()
        seen = hit[0] if hit else 0
        if seen >= n:  # maybe all duplicates (a re-import): one exact join says, and then nothing else runs
            stored = con.execute(
                """SELECT count(*) FROM __batch WHERE event_id IN (
                     SELECT e.event_id FROM events e WHERE e.id_hash IN (SELECT hash(event_id) FROM __batch))"""
            ).fetchone()
            if stored and stored[0] == n:
                ids = con.execute("SELECT DISTINCT event_id FROM __batch").fetchall()
                return AppendResult(0, n, frozenset(r[0] for r in ids))
        # Repeats and the largest weight from the Arrow batch: no statement to plan (ids are never null).
        repeated = n - int(pc.count_distinct(batch.column("event_id")).as_py())
        max_weight = pc.max(batch.column("weight")).as_py()
        if repeated or seen:
            source = "__new"
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE __new AS
                SELECT {cols}, weight FROM (SELECT *, row_number() OVER () AS __pos FROM __batch)
                QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY __pos) = 1"""
            )
            if seen:  # exact check, only against stored rows whose hash matches (retries, re-imports)
                gone = con.execute(
                    """DELETE FROM __new WHERE event_id IN (
                         SELECT e.event_id FROM events e
                         WHERE e.id_hash IN (SELECT hash(event_id) FROM __new)) RETURNING event_id"""
                ).fetchall()
                stored_ids = frozenset(r[0] for r in gone)
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
        return AppendResult(accepted, n - accepted, stored_ids)

    @_guarded(write=True)
    def delete(self, ids: list[str]) -> int:
        """Remove the events with these ids, and their counts from the rollup, in one transaction."""
        if not ids:
            return 0
        with self._writing({"__ids": pa.table({"event_id": pa.array(ids, pa.string())})}, counted=False) as txn:
            gone = self._delete_locked(txn.con)
        return gone

    @_guarded(write=True)
    def replace(self, batch: pa.Table) -> AppendResult:
        """Store ``batch`` over the stored rows of the same ids (one transaction: never both, never none)."""
        if batch.num_rows == 0:
            return AppendResult(0, 0)
        tables = {"__ids": batch.select(["event_id"]), "__batch": _time_ordered(batch)}
        with self._writing(tables, counted=True) as txn:
            self._delete_locked(txn.con)
            result = self._append_locked(txn.con, batch)
            txn.events = result.accepted
        return result

    def _delete_locked(self, con: duckdb.DuckDBPyConnection) -> int:
        """Delete the stored events whose ids are in ``__ids``, subtracting them from the rollup."""
        con.execute(
            """CREATE OR REPLACE TEMP TABLE __gone AS SELECT * FROM events
               WHERE id_hash IN (SELECT hash(event_id) FROM __ids) AND event_id IN (SELECT event_id FROM __ids)"""
        )
        row = con.execute("SELECT count(*) FROM __gone").fetchone()
        gone = int(row[0]) if row else 0
        if gone:
            self._update_rollup(con, "__gone", sign=-1)
            con.execute(
                """DELETE FROM events WHERE id_hash IN (SELECT id_hash FROM __gone)
                   AND event_id IN (SELECT event_id FROM __gone)"""
            )
        con.execute("DROP TABLE __gone")
        return gone

    @_guarded(write=False)
    def lead_events(self, lead_ids: list[str], id_prefix: str) -> pa.Table:
        """Stored rows (store schema) of these leads (``lead_id`` as stored) whose ids start with ``id_prefix``."""
        cols = ", ".join(
            f'CAST("{c}" AS VARCHAR) AS "{c}"' if c in ("event_type", "engagement_label") else f'"{c}"'
            for c in EVENT_COLUMNS
        )
        table = self._cursor().execute(
            f"""SELECT {cols}, CAST(weight AS BIGINT) AS weight FROM events
                WHERE starts_with(event_id, $2) AND lead_id IN (SELECT unnest($1::VARCHAR[])) ORDER BY event_id""",
            [lead_ids or [""], id_prefix],
        ).to_arrow_table()
        return table

    @_guarded(write=False)
    def primary_lead_ids(self, lead_ids: list[str], id_prefix: str) -> set[str]:
        """Which of ``lead_ids`` (as stored) have a stored primary event whose id starts with ``id_prefix``."""
        if not lead_ids:
            return set()
        rows = self._cursor().execute(
            """SELECT DISTINCT lead_id FROM events WHERE event_type = 'primary' AND starts_with(event_id, $2)
               AND lead_id IN (SELECT unnest($1::VARCHAR[]))""",
            [lead_ids, id_prefix],
        ).fetchall()
        return {r[0] for r in rows}

    @staticmethod
    def _update_rollup(con: duckdb.DuckDBPyConnection, source: str, sign: int = 1) -> None:
        """Add (``sign`` 1) or subtract (-1) the events of ``source`` to the slot rollup and the score histogram."""
        neg = "-" if sign < 0 else ""
        conds = metric_conditions(lambda name: name, str(DEFAULT_SUSPICIOUS_MIN))
        sums = ", ".join(f"{neg}coalesce(sum(weight) FILTER (WHERE {conds[m] or 'true'}), 0)" for m in METRIC_NAMES)
        updates = ", ".join(f'"{m}" = rollup_15m."{m}" + excluded."{m}"' for m in METRIC_NAMES)
        slot = f"CAST(epoch_us(occurred_at) // {SLOT_US} AS INTEGER)"
        con.execute(
            f"""INSERT INTO rollup_15m SELECT {slot} AS slot, {sums} FROM {source} GROUP BY ALL
            ON CONFLICT (slot) DO UPDATE SET {updates}"""
        )
        con.execute(
            f"""INSERT INTO rollup_scores
            SELECT {slot} AS slot, suspicion_score AS score, {neg}sum(weight) AS "primary" FROM {source}
            WHERE event_type = 'primary' AND suspicion_score IS NOT NULL GROUP BY ALL
            ON CONFLICT (slot, score) DO UPDATE SET "primary" = rollup_scores."primary" + excluded."primary" """
        )

    @_guarded(write=True)
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
        if cur is None or getattr(self._local, "generation", -1) != self._generation:
            cur = self._con.cursor()
            cur.execute("SET TimeZone = 'UTC'")
            self._local.cursor, self._local.generation = cur, self._generation
        return cur

    @_guarded(write=False)
    def report_rows(self, query: ReportQuery, limits: ReportLimits | None = None) -> GroupRows:
        if rollup_eligible(query):
            rel, engine = at_threshold(_ROLLUP_REL, "rollup_scores", '"primary"', query.suspicious_min,
                                       quote=lambda m: f'"{m}"'), "rollup"
        else:
            rel = _EVENTS_REL if not self._weighted else Relation(**{**_EVENTS_REL.__dict__, "weight": "weight"})
            engine = "events"
        compiled = compile_report(query, rel, DUCKDB)
        limits = limits or ReportLimits()
        sql = compiled.sql
        if limits.max_rows:  # one row past the limit tells that it is exceeded without building them all
            sql = f"SELECT * FROM ({sql}) AS __g LIMIT {limits.max_rows + 1}"
        cur = self._cursor()
        try:
            with watchdog(cur, limits):
                rows: pa.Table = cur.execute(sql, compiled.params).to_arrow_table()
                if limits.max_rows and rows.num_rows > limits.max_rows:
                    found = cur.execute(f"SELECT count(*) FROM ({compiled.sql}) AS __g", compiled.params).fetchone()
                    raise limits.too_many(int(found[0]) if found else None)
        except duckdb.InterruptException:
            raise limits.timed_out() from None
        except duckdb.OutOfMemoryException as exc:
            raise StoreError(f"the report needs more memory than the engine may use (LEADSTATS_MEMORY_LIMIT): {exc}",
                             field="dimensions") from None
        except duckdb.CatalogException as exc:
            raise StoreError(f"{self.path} is not a leadstats store: {exc}") from None
        return GroupRows(rows, engine)

    def set_memory_limit(self, limit: str | None) -> None:
        """Cap the engine's memory (DuckDB spills big aggregations to ``<store>.tmp`` below it)."""
        if limit:
            self._con.execute(f"SET memory_limit = '{memory_text(limit)}'")

    def stored_ids(self, ids: list[str]) -> set[str]:
        """Which of these ids are stored (exactly): :meth:`stored_mask` over them."""
        column = pa.array(ids, pa.string())
        return set(column.filter(self.stored_mask(column)).to_pylist())

    @_guarded(write=False)
    def stored_mask(self, ids: pa.Array) -> pa.Array:
        """Which ids are stored, for a column (bulk imports): candidates by ``id_hash``, then exact comparison."""
        if not len(ids):
            return pa.array([], pa.bool_())
        # A cursor of its own: registering the ids is refused on a cursor whose last result was not read
        # to the end (the thread's cursor after any fetchone(), e.g. count()).
        cur = self._con.cursor()
        try:
            cur.register("__ids", pa.table({"event_id": ids}))
            found: pa.Table = cur.execute(
                "SELECT e.event_id FROM events e WHERE e.id_hash IN (SELECT hash(event_id) FROM __ids)"
            ).to_arrow_table()
        finally:
            cur.close()
        return pc.is_in(ids, value_set=found.column(0).combine_chunks())

    @_guarded(write=False)
    def count(self) -> int:
        row = self._cursor().execute("SELECT coalesce(sum(weight), 0) FROM events").fetchone()
        return int(row[0]) if row else 0

    @_guarded(write=False)
    def time_span(self) -> tuple[int, int] | None:
        """First and last ``occurred_at`` (UTC microseconds), None for no events. Cheap: DuckDB answers
        min/max from the row groups' zone maps."""
        row = self._cursor().execute(
            "SELECT epoch_us(min(occurred_at)), epoch_us(max(occurred_at)) FROM events").fetchone()
        return None if row is None or row[0] is None else (int(row[0]), int(row[1]))

    @_guarded(write=False)
    def health(self) -> dict[str, Any]:
        cur = self._cursor()
        counted = cur.execute("SELECT count(*), coalesce(sum(weight), 0) FROM events").fetchone()
        rows, events = counted if counted else (0, 0)
        size = os.path.getsize(self.path) if self.path != ":memory:" and os.path.exists(self.path) else 0
        out: dict[str, Any] = {
            "backend": self.backend,
            "path": self.path,
            "rows": int(rows),
            "events": int(events),
            "schema_version": self.schema_version(),
            "size_bytes": size,
            "writable": self._write_error is None and not self.read_only,
        }
        if self._write_error is not None:
            out["write_error"] = self._write_error
        loss = self.get_state("wal_loss")
        if self._wal_loss or loss:
            out["wal_loss"] = self._wal_loss or json.loads(loss or "{}")
        return out

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

    @_guarded(write=False)
    def execute(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Read-only SQL for tools and tests (never exposed over HTTP)."""
        return self._cursor().execute(sql, params or []).fetchall()

    def close(self) -> None:
        self._finalizer()
