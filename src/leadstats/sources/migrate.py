"""Copy a store to another backend, resumable: the library half of ``leadstats migrate``.

Rows are read with ``LeadStats.scan_rows`` in ``event_id`` order, ``batch_size`` at a time, and written
with ``LeadStats.copy_rows`` (idempotent by ``event_id``, weights kept, values stored as they are: a
``lead_id`` is already hashed). After each batch the last copied ``event_id`` is saved in the *target's*
state under ``migrate:<source URL>``, so an interrupted copy resumes after it; a batch that landed just
before the interruption is skipped as duplicates on retry, so counts stay exact. The source's
``lead_id`` secret goes with the rows when the target has none yet, so later imports into the target
hash a lead the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import StoreError
from ..ingest.pipeline import LEAD_ID_SECRET_KEY
from ..service import LeadStats

if TYPE_CHECKING:
    from ..store import Store

DEFAULT_BATCH = 50_000


@dataclass
class MigrateResult:
    rows: int = 0  # rows read from the source in this run
    accepted: int = 0  # new in the target
    duplicates: int = 0  # already in the target (earlier runs, other imports)
    resumed_after: str | None = None
    last_event_id: str | None = None
    secret_differs: bool = False  # the target already had another lead_id secret


def checkpoint_key(source_url: str) -> str:
    return f"migrate:{source_url}"


def migrate(
    source: LeadStats | Store,
    target: LeadStats | Store,
    *,
    source_url: str,
    batch_size: int = DEFAULT_BATCH,
    restart: bool = False,
    progress: Callable[[int], None] | None = None,
) -> MigrateResult:
    """Copy every row of ``source`` into ``target`` in bounded batches, checkpointing in the target.

    >>> import leadstats
    >>> src, dst = leadstats.connect(":memory:"), leadstats.connect(":memory:")
    >>> _ = src.ingest([{"event_id": "e1", "event_type": "bot", "occurred_at": "2026-03-07T05:00:00Z"}])
    >>> migrate(src, dst, source_url="mem").accepted
    1
    """
    if batch_size < 1:
        raise StoreError("--batch-size must be at least 1")
    source = source if isinstance(source, LeadStats) else LeadStats(source)
    target = target if isinstance(target, LeadStats) else LeadStats(target)
    if target.read_only:
        raise StoreError(f"the target {target.backend} store is read-only: migrate into duckdb, chdb or clickhouse")
    key = checkpoint_key(source_url)
    after = None if restart else target.get_state(key)
    result = MigrateResult(resumed_after=after, last_event_id=after)
    secret = source.get_state(LEAD_ID_SECRET_KEY)
    if secret:
        mine = target.get_state(LEAD_ID_SECRET_KEY)
        if not mine:
            target.set_state(LEAD_ID_SECRET_KEY, secret)
        result.secret_differs = bool(mine) and mine != secret
    for batch in source.scan_rows(batch_size, after=after):
        if batch.num_rows == 0:
            continue
        appended = target.copy_rows(batch)
        last = batch.column("event_id")[-1].as_py()
        target.set_state(key, last)  # after the append: a crash in between re-sends one batch, deduplicated
        result.rows += batch.num_rows
        result.accepted += appended.accepted
        result.duplicates += appended.duplicates
        result.last_event_id = last
        if progress is not None:
            progress(batch.num_rows)
    return result
