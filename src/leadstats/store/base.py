"""The store contract every backend implements (the ibis habit: same contract, one shared test suite)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from ..errors import QueryError, QueryTimeout
from ..model.report import ReportQuery


@dataclass(frozen=True)
class AppendResult:
    accepted: int
    duplicates: int
    #: the batch's ids that were stored before this append, when the backend tells them (a MaskedStore):
    #: the exact in-transaction answer, so a group commit needs no look-up first
    stored: frozenset[str] | None = None


@dataclass(frozen=True)
class ReportLimits:
    """What one report may cost: ``max_rows`` grouped rows (0: no limit), ``timeout_s`` seconds of engine
    time (0: none), and ``cancel``, set by a front end whose client went away. Engines that can stop a
    running statement (DuckDB) do so; the service checks the row count for the others."""

    max_rows: int = 0
    timeout_s: float = 0.0
    cancel: threading.Event | None = None

    def too_many(self, count: int | None) -> QueryError:
        """The refusal, with the count when it is known."""
        size = f"{count:,} rows" if count is not None else f"more than {self.max_rows:,} rows"
        return QueryError(
            f"this report would return {size}, over the limit of {self.max_rows:,}"
            " (LEADSTATS_REPORT_MAX_ROWS): narrow the window, use a coarser bucket, fewer dimensions or filters",
            field="dimensions",
        )

    def timed_out(self) -> QueryTimeout:
        if self.cancel is not None and self.cancel.is_set():
            return QueryTimeout("the report was stopped: its client went away")
        return QueryTimeout(
            f"the report ran longer than {self.timeout_s:g} s (LEADSTATS_REPORT_TIMEOUT_S) and was stopped:"
            " narrow the window or use fewer dimensions"
        )


@dataclass(frozen=True)
class GroupRows:
    """Raw grouped rows from a backend: an Arrow table with the compiler's column names (``__k``,
    ``__d0``..., ``m_<metric>``), or ``(key?, dim..., metric...)`` tuples in that order."""

    rows: pa.Table | list[tuple[Any, ...]]
    engine: str  # which relation answered, e.g. "events" or "rollup"


@runtime_checkable
class Store(Protocol):
    backend: str
    read_only: bool

    def append(self, batch: pa.Table) -> AppendResult:
        """Append validated rows (``ingest.validate.STORE_SCHEMA``) in one transaction, skipping any
        ``event_id`` already stored or repeated within the batch."""

    def report_rows(self, query: ReportQuery, limits: ReportLimits | None = None) -> GroupRows:
        """Run the compiled report query and return its grouped rows."""

    def stored_ids(self, ids: list[str]) -> set[str]:
        """Which of ``ids`` are already stored (exact string comparison)."""

    def count(self) -> int: ...

    def health(self) -> dict[str, Any]: ...

    def get_state(self, key: str) -> str | None:
        """Small key/value state kept with the data (import watermarks, secrets)."""

    def set_state(self, key: str, value: str) -> None: ...

    def scan(self, batch_size: int = 100_000, after: str | None = None) -> Any:
        """Iterate stored rows as Arrow tables in ``event_id`` order, for copying between backends."""

    def close(self) -> None: ...


# Optional capabilities, declared here rather than probed by name: the service asks
# ``isinstance(store, EditableStore)`` and names the backend in its refusal when the answer is no.
@runtime_checkable
class MaskedStore(Protocol):
    """A store that answers the stored-id check for whole batches: for an Arrow column at once before an
    append (bulk imports), and inside its append (``AppendResult.stored``, for group commits)."""

    def stored_mask(self, ids: pa.Array) -> pa.Array:
        """One boolean per id (an id is never null): True where exactly that ``event_id`` is stored."""


@runtime_checkable
class EditableStore(Protocol):
    """A backend that can remove and rewrite stored events by id (DuckDB, chDB/ClickHouse, a server)."""

    def delete(self, ids: list[str]) -> int:
        """Remove these events (rollups kept exact); how many were removed."""

    def replace(self, batch: pa.Table) -> AppendResult:
        """Store rows over the stored rows of the same ids."""

    def lead_events(self, lead_ids: list[str], id_prefix: str) -> pa.Table:
        """Stored rows of these (hashed) lead ids whose event ids start with ``id_prefix``."""

    def primary_lead_ids(self, lead_ids: list[str], id_prefix: str) -> set[str]:
        """Which of these (hashed) lead ids have a stored primary event with that id prefix."""


@runtime_checkable
class OrderedStore(Protocol):
    """A backend whose physical order the user can rewrite (``leadstats optimize``)."""

    def optimize(self) -> None: ...


@runtime_checkable
class SpannedStore(Protocol):
    """A backend that can tell cheaply when its events begin and end (UTC microseconds)."""

    def time_span(self) -> tuple[int, int] | None: ...
