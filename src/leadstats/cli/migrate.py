"""``leadstats migrate --from URL --to URL``: copy a store between backends, resumable.

Rows are read with :meth:`Store.scan` in ``event_id`` order, ``--batch-size`` at a time, and written
with :meth:`Store.append` (idempotent by ``event_id``, weights kept). After each batch the last copied
``event_id`` is saved in the *target's* state under ``migrate:<source URL>``, so an interrupted copy
resumes after it; a batch that landed just before the interruption is skipped as duplicates on retry,
so counts stay exact. Running the command again later copies what the source gained since (ids after
the checkpoint); ``--restart`` rescans from the first id (safe, only slower).

    leadstats migrate --from leadstats.duckdb --to chdb:///var/lib/leadstats/ch
    leadstats migrate --from chdb:///var/lib/leadstats/ch --to clickhouse://default:@db1:8123/leads
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..errors import StoreError
from ..store import Store, open_store
from .common import app, console, err_console, handle_errors

DEFAULT_BATCH = 50_000


@dataclass
class MigrateResult:
    rows: int = 0  # rows read from the source in this run
    accepted: int = 0  # new in the target
    duplicates: int = 0  # already in the target (earlier runs, other imports)
    resumed_after: str | None = None
    last_event_id: str | None = None


def checkpoint_key(source_url: str) -> str:
    return f"migrate:{source_url}"


def migrate(
    source: Store,
    target: Store,
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
    >>> migrate(src.store, dst.store, source_url="mem").accepted
    1
    """
    if batch_size < 1:
        raise StoreError("--batch-size must be at least 1")
    if target.read_only:
        raise StoreError(f"the target {target.backend} store is read-only: migrate into duckdb, chdb or clickhouse")
    key = checkpoint_key(source_url)
    after = None if restart else target.get_state(key)
    result = MigrateResult(resumed_after=after, last_event_id=after)
    for batch in source.scan(batch_size, after=after):
        if batch.num_rows == 0:
            continue
        appended = target.append(batch)
        last = batch.column("event_id")[-1].as_py()
        target.set_state(key, last)  # after the append: a crash in between re-sends one batch, deduplicated
        result.rows += batch.num_rows
        result.accepted += appended.accepted
        result.duplicates += appended.duplicates
        result.last_event_id = last
        if progress is not None:
            progress(batch.num_rows)
    return result


@app.command("migrate")
@handle_errors
def migrate_command(
    source_url: str = typer.Option(..., "--from", help="Source store path or URL (duckdb, chdb, clickhouse)."),
    target_url: str = typer.Option(..., "--to", help="Target store path or URL (duckdb, chdb, clickhouse)."),
    batch_size: int = typer.Option(DEFAULT_BATCH, "--batch-size", help="Rows per batch (memory stays bounded)."),
    restart: bool = typer.Option(False, "--restart", help="Ignore the checkpoint and rescan from the first id."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the summary line."),
) -> None:
    """Copy a store to another backend in bounded batches; resumable, idempotent."""
    if source_url.strip() == target_url.strip():
        raise StoreError("--from and --to name the same store")
    source = open_store(source_url, read_only=True)
    try:
        target = open_store(target_url)
        try:
            total = int(source.health().get("rows") or 0)
            show = not quiet and err_console.is_terminal
            with Progress(
                TextColumn("[bold]migrate"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=err_console, transient=True, disable=not show,
            ) as bar:
                task = bar.add_task("rows", total=total or None)
                result = migrate(
                    source, target, source_url=source_url.strip(), batch_size=batch_size, restart=restart,
                    progress=lambda n: bar.advance(task, n),
                )
            events = target.count()
        finally:
            target.close()
    finally:
        source.close()
    resumed = f" (resumed after {result.resumed_after})" if result.resumed_after else ""
    console.print(
        f"copied {result.rows:,} rows{resumed}: {result.accepted:,} new, {result.duplicates:,} already there;"
        f" the target now holds {events:,} events",
        highlight=False,
    )
