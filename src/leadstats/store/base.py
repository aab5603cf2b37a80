"""The store contract every backend implements (the ibis habit: same contract, one shared test suite)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from ..model.report import ReportQuery


@dataclass(frozen=True)
class AppendResult:
    accepted: int
    duplicates: int


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

    def report_rows(self, query: ReportQuery) -> GroupRows:
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
